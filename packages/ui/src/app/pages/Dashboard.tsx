import { useQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { Link } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ErrorNote, Loading, Status, Time } from '../components/common.js';
import { RunsTable } from '../components/RunsTable.js';
import { useNow } from '../hooks.js';

const DAY_MS = 24 * 3_600_000;

// Chart.js is a third of the app's weight: it loads beside the first data, not before the first paint.
const ActivityChart = lazy(() => import('../components/charts.js').then((charts) => ({ default: charts.ActivityChart })));

export function Dashboard() {
  const trpc = useTRPC();
  const now = useNow(LIVE_MS);
  // The window moves by the minute, so the queries' keys (and caches) do not change on every tick.
  const minute = Math.floor(now / 60_000) * 60_000;
  const since = new Date(minute - DAY_MS).toISOString();
  const until = new Date(minute + 60_000).toISOString();
  const live = { refetchInterval: LIVE_MS };
  const recent = useQuery(trpc.flowRuns.list.queryOptions({ sort: 'EXPECTED_START_DESC', expectedStartBefore: until, page: { limit: 10, offset: 0 } }, live));
  const activity = useQuery(trpc.flowRuns.activity.queryOptions({ since, until }, live));
  const late = useQuery(
    trpc.flowRuns.list.queryOptions({ states: ['SCHEDULED'], stateName: 'Late', sort: 'EXPECTED_START_ASC', page: { limit: 10, offset: 0 } }, live),
  );
  const failed = useQuery(
    trpc.flowRuns.list.queryOptions(
      { states: ['FAILED', 'CRASHED'], expectedStartAfter: since, sort: 'EXPECTED_START_DESC', page: { limit: 10, offset: 0 } },
      live,
    ),
  );
  const pools = useQuery(trpc.workPools.list.queryOptions(undefined, live));
  const deployments = useQuery(trpc.deployments.list.queryOptions({ page: { limit: 1, offset: 0 } }, live));

  if (recent.data?.length === 0 && deployments.data?.length === 0) return <EmptyState />;
  return (
    <>
      <h1>Dashboard</h1>
      <section aria-labelledby="activity-heading">
        <h2 id="activity-heading">Runs of the last 24 hours</h2>
        <ErrorNote error={activity.error} />
        <Suspense fallback={<Loading what="the chart" />}>
          {activity.data ? <ActivityChart activity={activity.data} since={minute - DAY_MS} hours={24} /> : <Loading what="activity" />}
        </Suspense>
      </section>
      <div className="columns">
        <section aria-labelledby="late-heading">
          <h2 id="late-heading">Late runs</h2>
          <ErrorNote error={late.error} />
          {late.data ? <RunsTable runs={late.data} caption="Late runs" now={now} /> : <Loading what="late runs" />}
        </section>
        <section aria-labelledby="failed-heading">
          <h2 id="failed-heading">Failed and crashed (24 h)</h2>
          <ErrorNote error={failed.error} />
          {failed.data ? <RunsTable runs={failed.data} caption="Failed and crashed runs" now={now} /> : <Loading what="failed runs" />}
        </section>
      </div>
      <section aria-labelledby="recent-heading">
        <h2 id="recent-heading">
          Recent runs <Link href="/runs">(all)</Link>
        </h2>
        <ErrorNote error={recent.error} />
        {recent.data ? <RunsTable runs={recent.data} caption="Recent runs" now={now} /> : <Loading what="recent runs" />}
      </section>
      <section aria-labelledby="pools-heading">
        <h2 id="pools-heading">Work pools</h2>
        <ErrorNote error={pools.error} />
        {pools.data?.length === 0 && <p className="muted">No work pool yet.</p>}
        <ul className="cards">
          {pools.data?.map((pool) => (
            <li key={pool.id}>
              <PoolHealth name={pool.name} status={pool.status} paused={pool.isPaused} />
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}

function PoolHealth({ name, status, paused }: { name: string; status: string; paused: boolean }) {
  const trpc = useTRPC();
  const workers = useQuery(trpc.workers.list.queryOptions({ workPoolName: name }, { refetchInterval: LIVE_MS }));
  const online = workers.data?.filter((worker) => worker.status === 'ONLINE') ?? [];
  const newest = workers.data
    ?.map((worker) => worker.lastHeartbeat)
    .sort()
    .at(-1);
  return (
    <article className="card">
      <h3>
        <Link href={`/pools/${encodeURIComponent(name)}`}>{name}</Link>
      </h3>
      <p>
        <Status status={status} paused={paused} /> · {workers.data ? `${online.length} of ${workers.data.length} workers online` : '…'}
      </p>
      {newest && (
        <p className="muted">
          Last heartbeat <Time iso={newest} />
        </p>
      )}
    </article>
  );
}

function EmptyState() {
  return (
    <section className="empty">
      <h1>Welcome to Drover</h1>
      <p>Nothing has run here yet. Three commands get a flow running, from a project with a drover.yaml:</p>
      <pre>
        <code>
          {`drover deploy --all                 # save the project's deployments here
drover worker start --pool local    # a worker that runs them
drover deployment run <flow>/<deployment> --watch`}
        </code>
      </pre>
      <p>
        The server is already running: this page is it. See <code>drover --help</code> for the rest.
      </p>
    </section>
  );
}
