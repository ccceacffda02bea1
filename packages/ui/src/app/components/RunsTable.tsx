import type { FlowRun } from '@drover/schemas';
import { Link } from 'wouter';
import { duration, runDuration } from '../format.js';
import { StateBadge, Time } from './common.js';

/** Runs in a table: each links to its page, with its flow and deployment, state, start and duration. */
export function RunsTable({ runs, caption, now }: { runs: readonly FlowRun[]; caption: string; now: number }) {
  if (runs.length === 0) return <p className="muted">No runs.</p>;
  return (
    <div className="table-scroll">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Deployment</th>
            <th scope="col">State</th>
            <th scope="col">Start</th>
            <th scope="col">Duration</th>
            <th scope="col">Tags</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const ms = runDuration(run, now);
            return (
              <tr key={run.id}>
                <td>
                  <Link href={`/runs/${run.id}`}>{run.name}</Link>
                </td>
                <td>
                  {run.deploymentId ? (
                    <Link href={`/deployments/${run.deploymentId}`}>
                      {run.flowName}/{run.deploymentName}
                    </Link>
                  ) : (
                    run.flowName
                  )}
                </td>
                <td>
                  <StateBadge type={run.state.type} name={run.state.name} />
                </td>
                <td>
                  <Time iso={run.startTime ?? run.expectedStartTime} />
                </td>
                <td>{ms === null ? <span className="muted">–</span> : duration(ms)}</td>
                <td>{run.tags.join(', ')}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
