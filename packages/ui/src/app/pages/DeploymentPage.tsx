import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useState } from 'react';
import { Link } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ErrorNote, Field, Json, Loading, Status, Time } from '../components/common.js';
import { RunsTable } from '../components/RunsTable.js';
import { ScheduleWords } from '../components/ScheduleWords.js';
import { useNow } from '../hooks.js';

// The form and its JSON Schema validator load when a user opens it, not with every page.
const RunForm = lazy(() => import('../components/RunForm.js'));

export function DeploymentPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow(LIVE_MS);
  const [formOpen, setFormOpen] = useState(false);
  const deployment = useQuery(trpc.deployments.read.queryOptions({ deployment: id }, { refetchInterval: LIVE_MS }));
  const upcoming = useQuery(
    trpc.flowRuns.list.queryOptions(
      { deploymentId: id, states: ['SCHEDULED'], sort: 'EXPECTED_START_ASC', page: { limit: 5, offset: 0 } },
      { refetchInterval: LIVE_MS },
    ),
  );
  const recent = useQuery(
    trpc.flowRuns.list.queryOptions(
      {
        deploymentId: id,
        expectedStartBefore: new Date(Math.ceil(now / 60_000) * 60_000).toISOString(),
        sort: 'EXPECTED_START_DESC',
        page: { limit: 10, offset: 0 },
      },
      { refetchInterval: LIVE_MS },
    ),
  );
  const refresh = () => queryClient.invalidateQueries();
  const pause = useMutation(trpc.deployments.pause.mutationOptions({ onSuccess: refresh }));
  const resume = useMutation(trpc.deployments.resume.mutationOptions({ onSuccess: refresh }));
  const setActive = useMutation(trpc.deployments.updateSchedule.mutationOptions({ onSuccess: refresh }));

  if (deployment.error) return <ErrorNote error={deployment.error} />;
  if (!deployment.data) return <Loading what="the deployment" />;
  const d = deployment.data;
  return (
    <>
      <h1>
        {d.flowName}/{d.name} <Status status={d.status} paused={d.paused} />
      </h1>
      {d.description && <p>{d.description}</p>}
      {!d.paused && d.statusReason && <p className="muted">{d.statusReason}</p>}
      <div className="actions">
        <button type="button" className="primary" aria-expanded={formOpen} onClick={() => setFormOpen(!formOpen)}>
          Run now…
        </button>
        {d.paused ? (
          <button type="button" disabled={resume.isPending} onClick={() => resume.mutate({ deployment: id })}>
            Resume deployment
          </button>
        ) : (
          <button type="button" disabled={pause.isPending} onClick={() => pause.mutate({ deployment: id })}>
            Pause deployment
          </button>
        )}
      </div>
      <ErrorNote error={pause.error ?? resume.error ?? setActive.error} />
      {formOpen && (
        <Suspense fallback={<Loading what="the form" />}>
          <RunForm deployment={d} />
        </Suspense>
      )}
      <section aria-labelledby="schedules-heading">
        <h2 id="schedules-heading">Schedules</h2>
        {d.schedules.length === 0 && <p className="muted">No schedule: runs start when asked.</p>}
        <ul className="schedules">
          {d.schedules.map((s) => (
            <li key={s.id}>
              <span className={s.active ? '' : 'muted'} data-testid="schedule-words">
                <ScheduleWords schedule={s.schedule} />
              </span>{' '}
              {s.active ? (
                <button type="button" onClick={() => setActive.mutate({ deployment: id, scheduleId: s.id, changes: { active: false } })}>
                  Pause schedule
                </button>
              ) : (
                <button type="button" onClick={() => setActive.mutate({ deployment: id, scheduleId: s.id, changes: { active: true } })}>
                  Resume schedule
                </button>
              )}
            </li>
          ))}
        </ul>
        <h3>Next runs</h3>
        {upcoming.data?.length ? (
          <ol className="next-runs">
            {upcoming.data.map((run) => (
              <li key={run.id}>
                <Time iso={run.nextScheduledStartTime ?? run.expectedStartTime} /> — <Link href={`/runs/${run.id}`}>{run.name}</Link>
              </li>
            ))}
          </ol>
        ) : (
          <p className="muted">None scheduled.</p>
        )}
      </section>
      <section aria-labelledby="recent-heading">
        <h2 id="recent-heading">
          Recent runs <Link href={`/runs?deployment=${d.id}`}>(all)</Link>
        </h2>
        {recent.data ? <RunsTable runs={recent.data} caption="Recent runs of this deployment" now={now} /> : <Loading what="runs" />}
      </section>
      <dl className="details">
        <Field label="Entrypoint">{d.entrypoint && <code>{d.entrypoint}</code>}</Field>
        <Field label="Work pool">
          {d.workPoolName && (
            <Link href={`/pools/${encodeURIComponent(d.workPoolName)}`}>
              {d.workPoolName}
              {d.workQueueName ? ` / ${d.workQueueName}` : ''}
            </Link>
          )}
        </Field>
        <Field label="Concurrency limit">
          {d.concurrencyLimit === null ? null : `${d.concurrencyLimit} (${d.concurrencyOptions.collisionStrategy.toLowerCase()})`}
        </Field>
        <Field label="Version">{d.version}</Field>
        <Field label="Tags">{d.tags.length ? d.tags.join(', ') : null}</Field>
        <Field label="Last polled">
          <Time iso={d.lastPolled} />
        </Field>
        <Field label="Updated">
          <Time iso={d.updated} />
        </Field>
      </dl>
      <div className="columns">
        <section aria-labelledby="defaults-heading">
          <h2 id="defaults-heading">Default parameters</h2>
          <Json value={d.parameters} label="Default parameters" />
        </section>
        <section aria-labelledby="schema-heading">
          <h2 id="schema-heading">Parameter schema</h2>
          {d.parameterSchema ? <Json value={d.parameterSchema} label="Parameter schema" /> : <p className="muted">None: any parameters are accepted.</p>}
        </section>
        <section aria-labelledby="jobvars-heading">
          <h2 id="jobvars-heading">Job variables</h2>
          <Json value={d.jobVariables} label="Job variables" />
        </section>
      </div>
    </>
  );
}
