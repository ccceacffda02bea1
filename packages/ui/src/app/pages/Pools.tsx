import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ErrorNote, Loading, Status, Time } from '../components/common.js';

/** Runs that hold a pool slot: claimed and not yet ended. */
const SLOT_STATES = ['PENDING', 'RUNNING', 'CANCELLING'] as const;

export function Pools() {
  const trpc = useTRPC();
  const pools = useQuery(trpc.workPools.list.queryOptions(undefined, { refetchInterval: LIVE_MS }));
  return (
    <>
      <h1>Work pools</h1>
      <ErrorNote error={pools.error} />
      {!pools.data ? (
        <Loading what="work pools" />
      ) : pools.data.length === 0 ? (
        <p className="muted">
          No work pool yet: <code>drover work-pool create local --type process</code>, or a worker started with <code>--pool local</code>, makes one.
        </p>
      ) : (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Work pools</caption>
            <thead>
              <tr>
                <th scope="col">Pool</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Slots in use</th>
              </tr>
            </thead>
            <tbody>
              {pools.data.map((pool) => (
                <tr key={pool.id}>
                  <td>
                    <Link href={`/pools/${encodeURIComponent(pool.name)}`}>{pool.name}</Link>
                  </td>
                  <td>{pool.type}</td>
                  <td>
                    <Status status={pool.status} paused={pool.isPaused} />
                  </td>
                  <td>
                    <SlotsInUse pool={pool.name} limit={pool.concurrencyLimit} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function SlotsInUse({ pool, limit }: { pool: string; limit: number | null }) {
  const trpc = useTRPC();
  const active = useQuery(trpc.flowRuns.count.queryOptions({ workPoolName: pool, states: [...SLOT_STATES] }, { refetchInterval: LIVE_MS }));
  if (!active.data) return <span className="muted">…</span>;
  return (
    <span>
      {active.data.count}
      {limit === null ? '' : ` of ${limit}`}
    </span>
  );
}

export function PoolPage({ name }: { name: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const live = { refetchInterval: LIVE_MS };
  const pool = useQuery(trpc.workPools.read.queryOptions({ name }, live));
  const queues = useQuery(trpc.workQueues.list.queryOptions({ workPoolName: name }, live));
  const workers = useQuery(trpc.workers.list.queryOptions({ workPoolName: name }, live));
  const refresh = () => queryClient.invalidateQueries();
  const pause = useMutation(trpc.workPools.pause.mutationOptions({ onSuccess: refresh }));
  const resume = useMutation(trpc.workPools.resume.mutationOptions({ onSuccess: refresh }));
  const updateQueue = useMutation(trpc.workQueues.update.mutationOptions({ onSuccess: refresh }));

  if (pool.error) return <ErrorNote error={pool.error} />;
  if (!pool.data) return <Loading what="the work pool" />;
  const p = pool.data;
  return (
    <>
      <h1>
        {p.name} <Status status={p.status} paused={p.isPaused} />
      </h1>
      {p.description && <p>{p.description}</p>}
      <p>
        {p.type} pool · slots in use: <SlotsInUse pool={p.name} limit={p.concurrencyLimit} />
      </p>
      <div className="actions">
        {p.isPaused ? (
          <button type="button" disabled={resume.isPending} onClick={() => resume.mutate({ name })}>
            Resume pool
          </button>
        ) : (
          <button type="button" disabled={pause.isPending} onClick={() => pause.mutate({ name })}>
            Pause pool
          </button>
        )}
      </div>
      <ErrorNote error={pause.error ?? resume.error ?? updateQueue.error} />
      <section aria-labelledby="queues-heading">
        <h2 id="queues-heading">Queues</h2>
        <ErrorNote error={queues.error} />
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Queues</caption>
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col">Priority</th>
                <th scope="col">Limit</th>
                <th scope="col">Status</th>
                <th scope="col">Last polled</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {queues.data?.map((queue) => (
                <tr key={queue.id}>
                  <td>{queue.name}</td>
                  <td>{queue.priority}</td>
                  <td>{queue.concurrencyLimit ?? <span className="muted">none</span>}</td>
                  <td title={queue.statusReason ?? undefined}>{queue.status.toLowerCase().replace('_', ' ')}</td>
                  <td>
                    <Time iso={queue.lastPolled} />
                  </td>
                  <td>
                    <button type="button" onClick={() => updateQueue.mutate({ workPoolName: name, name: queue.name, changes: { isPaused: !queue.isPaused } })}>
                      {queue.isPaused ? 'Resume' : 'Pause'} <span className="visually-hidden">queue {queue.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="workers-heading">
        <h2 id="workers-heading">Workers</h2>
        <ErrorNote error={workers.error} />
        {workers.data?.length === 0 ? (
          <p className="muted">
            No worker has polled this pool: <code>drover worker start --pool {p.name}</code>
          </p>
        ) : (
          <div className="table-scroll">
            <table>
              <caption className="visually-hidden">Workers</caption>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {workers.data?.map((worker) => (
                  <tr key={worker.id}>
                    <td>{worker.name}</td>
                    <td>
                      <Status status={worker.status} />
                    </td>
                    <td>
                      <Time iso={worker.lastHeartbeat} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
