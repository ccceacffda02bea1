import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { useLocation, useSearch } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ErrorNote, Loading } from '../components/common.js';
import { RunsTable } from '../components/RunsTable.js';
import { STATE_TYPES } from '../format.js';
import { useNow } from '../hooks.js';

const PAGE_SIZE = 50;

// Chart.js loads only when the timeline is asked for: the table, the page's first view, needs none of it.
const RunTimeline = lazy(() => import('../components/charts.js').then((charts) => ({ default: charts.RunTimeline })));

const WINDOWS: Record<string, { label: string; ms: number | null }> = {
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '24h': { label: 'Last 24 hours', ms: 24 * 3_600_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 24 * 3_600_000 },
  '30d': { label: 'Last 30 days', ms: 30 * 24 * 3_600_000 },
  all: { label: 'Any time', ms: null },
};

/** The filters live in the address (`/runs?state=FAILED&window=24h`), so a filtered list can be shared and reloaded. */
export function Runs() {
  const trpc = useTRPC();
  const [, navigate] = useLocation();
  const params = new URLSearchParams(useSearch());
  const now = useNow(LIVE_MS);
  const states = params.getAll('state').filter((state) => STATE_TYPES.includes(state));
  const deploymentId = params.get('deployment') ?? '';
  const flowName = params.get('flow') ?? '';
  const tags = (params.get('tags') ?? '')
    .split(',')
    .map((tag) => tag.trim())
    .filter(Boolean);
  const windowParam = params.get('window') ?? '';
  const windowKey = windowParam in WINDOWS ? windowParam : '7d';
  const offset = Math.max(0, Number.parseInt(params.get('offset') ?? '0', 10) || 0);
  const view = params.get('view') === 'timeline' ? 'timeline' : 'table';
  const windowMs = WINDOWS[windowKey]?.ms ?? null;
  // By the minute, so a live refetch keeps its query key.
  const after = windowMs === null ? undefined : new Date(Math.floor(now / 60_000) * 60_000 - windowMs).toISOString();

  const filter = {
    states: states.length ? (states as never) : undefined,
    deploymentId: deploymentId || undefined,
    flowName: flowName || undefined,
    tags: tags.length ? tags : undefined,
    expectedStartAfter: after,
  };
  const runs = useQuery(
    trpc.flowRuns.list.queryOptions(
      // One more than a page tells whether there is a next one.
      { ...filter, sort: 'EXPECTED_START_DESC', page: { limit: PAGE_SIZE + 1, offset } },
      { refetchInterval: LIVE_MS, placeholderData: keepPreviousData },
    ),
  );
  const total = useQuery(trpc.flowRuns.count.queryOptions(filter, { refetchInterval: LIVE_MS, placeholderData: keepPreviousData }));
  const deployments = useQuery(trpc.deployments.list.queryOptions({ page: { limit: 1000, offset: 0 } }));
  const flows = useQuery(trpc.flows.list.queryOptions({ limit: 1000, offset: 0 }));

  const update = (changes: Record<string, string | string[] | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      for (const item of Array.isArray(value) ? value : value ? [value] : []) next.append(key, item);
    }
    if (!('offset' in changes)) next.delete('offset');
    navigate(`/runs${next.size ? `?${next}` : ''}`, { replace: true });
  };

  const page = runs.data?.slice(0, PAGE_SIZE);
  const hasNext = (runs.data?.length ?? 0) > PAGE_SIZE;
  return (
    <>
      <h1>Flow runs</h1>
      <form className="filters" aria-label="Filter runs" onSubmit={(event) => event.preventDefault()}>
        <fieldset>
          <legend>States</legend>
          {STATE_TYPES.map((state) => (
            <label key={state} className="check">
              <input
                type="checkbox"
                checked={states.includes(state)}
                onChange={(event) => update({ state: event.target.checked ? [...states, state] : states.filter((s) => s !== state) })}
              />
              {state.toLowerCase()}
            </label>
          ))}
        </fieldset>
        <label>
          Deployment
          <select value={deploymentId} onChange={(event) => update({ deployment: event.target.value })}>
            <option value="">Any</option>
            {deployments.data?.map((deployment) => (
              <option key={deployment.id} value={deployment.id}>
                {deployment.flowName}/{deployment.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Flow
          <select value={flowName} onChange={(event) => update({ flow: event.target.value })}>
            <option value="">Any</option>
            {flows.data?.map((flow) => (
              <option key={flow.id} value={flow.name}>
                {flow.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tags
          <input
            type="search"
            placeholder="etl, nightly"
            defaultValue={tags.join(', ')}
            onKeyDown={(event) => {
              if (event.key === 'Enter') update({ tags: event.currentTarget.value });
            }}
            onBlur={(event) => update({ tags: event.currentTarget.value })}
          />
        </label>
        <label>
          Window
          <select value={windowKey} onChange={(event) => update({ window: event.target.value })}>
            {Object.entries(WINDOWS).map(([key, { label }]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="segmented">
          <legend className="visually-hidden">View</legend>
          <button type="button" aria-pressed={view === 'table'} onClick={() => update({ view: null, offset: String(offset) })}>
            Table
          </button>
          <button type="button" aria-pressed={view === 'timeline'} onClick={() => update({ view: 'timeline', offset: String(offset) })}>
            Timeline
          </button>
        </fieldset>
      </form>
      <ErrorNote error={runs.error} />
      {!page ? (
        <Loading what="runs" />
      ) : view === 'timeline' ? (
        page.length ? (
          <Suspense fallback={<Loading what="the timeline" />}>
            <RunTimeline runs={page} now={now} />
          </Suspense>
        ) : (
          <p className="muted">No runs.</p>
        )
      ) : (
        <RunsTable runs={page} caption="Flow runs" now={now} />
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={offset === 0} onClick={() => update({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>
          ← Newer
        </button>
        <span aria-live="polite">
          {page?.length ? `Runs ${offset + 1}–${offset + page.length}${total.data ? ` of ${total.data.count.toLocaleString()}` : ''}` : ''}
        </span>
        <button type="button" disabled={!hasNext} onClick={() => update({ offset: String(offset + PAGE_SIZE) })}>
          Older →
        </button>
      </nav>
    </>
  );
}
