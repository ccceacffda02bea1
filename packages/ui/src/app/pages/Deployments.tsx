import { useQuery } from '@tanstack/react-query';
import { Link } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ErrorNote, Loading, Status, Time } from '../components/common.js';
import { ScheduleWords } from '../components/ScheduleWords.js';

export function Deployments() {
  const trpc = useTRPC();
  const deployments = useQuery(trpc.deployments.list.queryOptions({ page: { limit: 1000, offset: 0 } }, { refetchInterval: LIVE_MS }));
  return (
    <>
      <h1>Deployments</h1>
      <ErrorNote error={deployments.error} />
      {!deployments.data ? (
        <Loading what="deployments" />
      ) : deployments.data.length === 0 ? (
        <p className="muted">
          No deployment yet: <code>drover deploy --all</code> in a project saves its deployments here.
        </p>
      ) : (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Deployments</caption>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Schedules</th>
                <th scope="col">Status</th>
                <th scope="col">Work pool</th>
                <th scope="col">Last polled</th>
                <th scope="col">Tags</th>
              </tr>
            </thead>
            <tbody>
              {deployments.data.map((deployment) => (
                <tr key={deployment.id}>
                  <td>
                    <Link href={`/deployments/${deployment.id}`}>
                      {deployment.flowName}/{deployment.name}
                    </Link>
                  </td>
                  <td>
                    {deployment.schedules.length === 0 ? (
                      <span className="muted">none</span>
                    ) : (
                      deployment.schedules.map((s) => (
                        <div key={s.id} className={s.active ? '' : 'muted'}>
                          <ScheduleWords schedule={s.schedule} />
                          {s.active ? '' : ' (paused)'}
                        </div>
                      ))
                    )}
                  </td>
                  <td>
                    <Status status={deployment.status} paused={deployment.paused} reason={deployment.statusReason} />
                  </td>
                  <td>{deployment.workPoolName ?? <span className="muted">served</span>}</td>
                  <td>
                    <Time iso={deployment.lastPolled} />
                  </td>
                  <td>{deployment.tags.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
