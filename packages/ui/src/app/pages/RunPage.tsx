import type { LogRecord } from '@drover/schemas';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { LIVE_MS, useTRPC } from '../api.js';
import { ConfirmButton, ErrorNote, Field, Json, Loading, StateBadge, Time } from '../components/common.js';
import { RunsTable } from '../components/RunsTable.js';
import { duration, FINAL_STATES, runDuration } from '../format.js';
import { useNow } from '../hooks.js';

export function RunPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const now = useNow(1000);
  const run = useQuery(
    trpc.flowRuns.read.queryOptions(
      { id },
      { refetchInterval: (query) => (query.state.data && FINAL_STATES.has(query.state.data.state.type) ? LIVE_MS * 5 : 1000) },
    ),
  );
  const history = useQuery(trpc.flowRuns.history.queryOptions({ id }, { refetchInterval: LIVE_MS }));
  const children = useQuery(trpc.flowRuns.list.queryOptions({ parentFlowRunId: id, page: { limit: 50, offset: 0 } }, { refetchInterval: LIVE_MS }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.flowRuns.pathKey() });
  const cancel = useMutation(trpc.flowRuns.cancel.mutationOptions({ onSuccess: refresh }));
  const retry = useMutation(trpc.flowRuns.retry.mutationOptions({ onSuccess: refresh }));
  const remove = useMutation(trpc.flowRuns.delete.mutationOptions({ onSuccess: () => navigate('/runs') }));

  if (run.error) return <ErrorNote error={run.error} />;
  if (!run.data) return <Loading what="the run" />;
  const r = run.data;
  const final = FINAL_STATES.has(r.state.type);
  const ms = runDuration(r, now);
  const action = cancel.data ?? retry.data;
  return (
    <>
      <h1>
        {r.name} <StateBadge type={r.state.type} name={r.state.name} />
      </h1>
      {r.state.message && <p className="state-message">{r.state.message}</p>}
      <div className="actions">
        <button
          type="button"
          disabled={final || r.state.type === 'CANCELLING' || cancel.isPending}
          onClick={() => cancel.mutate({ id, message: 'Cancelled from the UI' })}
        >
          Cancel
        </button>
        <button type="button" disabled={!['FAILED', 'CRASHED', 'CANCELLED'].includes(r.state.type) || retry.isPending} onClick={() => retry.mutate({ id })}>
          Retry
        </button>
        <ConfirmButton confirmLabel="Delete this run and its logs" onConfirm={() => remove.mutate({ id })} disabled={!final && r.state.type !== 'SCHEDULED'}>
          Delete
        </ConfirmButton>
      </div>
      {action && action.status !== 'ACCEPT' && (
        <p role="status" className="notice">
          {action.status.toLowerCase()}: {action.reason}
        </p>
      )}
      <ErrorNote error={cancel.error ?? retry.error ?? remove.error} />
      <dl className="details">
        <Field label="Flow">{r.flowName}</Field>
        <Field label="Deployment">{r.deploymentId && <Link href={`/deployments/${r.deploymentId}`}>{r.deploymentName}</Link>}</Field>
        <Field label="Work pool">
          {r.workPoolName && (
            <Link href={`/pools/${encodeURIComponent(r.workPoolName)}`}>
              {r.workPoolName}
              {r.workQueueName ? ` / ${r.workQueueName}` : ''}
            </Link>
          )}
        </Field>
        <Field label="Worker">{r.workerName}</Field>
        <Field label="Infrastructure">{r.infrastructureId && <code>{r.infrastructureId}</code>}</Field>
        <Field label="Expected start">
          <Time iso={r.expectedStartTime} />
        </Field>
        <Field label="Started">
          <Time iso={r.startTime} />
        </Field>
        <Field label="Ended">
          <Time iso={r.endTime} />
        </Field>
        <Field label="Duration">{ms === null ? null : duration(ms)}</Field>
        <Field label="Attempts">{r.runCount}</Field>
        <Field label="Tags">{r.tags.length ? r.tags.join(', ') : null}</Field>
        <Field label="Parent run">{r.parentFlowRunId && <Link href={`/runs/${r.parentFlowRunId}`}>{r.parentFlowRunId}</Link>}</Field>
        <Field label="Id">
          <code>{r.id}</code>
        </Field>
      </dl>
      <section aria-labelledby="history-heading">
        <h2 id="history-heading">State history</h2>
        <ErrorNote error={history.error} />
        <ol className="timeline">
          {history.data?.map((state, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: states have no id, and the history only grows at its end.
            <li key={index}>
              <StateBadge type={state.type} name={state.name} /> <Time iso={state.timestamp} />
              {state.message && <span className="muted"> — {state.message}</span>}
            </li>
          ))}
        </ol>
      </section>
      <section aria-labelledby="logs-heading">
        <h2 id="logs-heading">Logs</h2>
        <Logs id={id} live={!final} />
      </section>
      {children.data && children.data.length > 0 && (
        <section aria-labelledby="children-heading">
          <h2 id="children-heading">Child runs</h2>
          <RunsTable runs={children.data} caption="Child runs" now={now} />
        </section>
      )}
      <div className="columns">
        <section aria-labelledby="parameters-heading">
          <h2 id="parameters-heading">Parameters</h2>
          <Json value={r.parameters} label="Parameters" />
        </section>
        <section aria-labelledby="result-heading">
          <h2 id="result-heading">Result</h2>
          {r.result === null ? <p className="muted">No result.</p> : <Json value={r.result} label="Result" />}
        </section>
        <section aria-labelledby="jobvars-heading">
          <h2 id="jobvars-heading">Job variables</h2>
          <Json value={r.jobVariables} label="Job variables" />
        </section>
      </div>
    </>
  );
}

/** The run's log lines, with a search box: a search asks the server for the matching lines. */
function Logs({ id, live }: { id: string; live: boolean }) {
  const [search, setSearch] = useState('');
  const [typed, setTyped] = useState('');
  // Typing settles for a moment before a search goes to the server.
  useEffect(() => {
    const timer = setTimeout(() => setSearch(typed.trim()), 300);
    return () => clearTimeout(timer);
  }, [typed]);
  return (
    <>
      <label className="log-search">
        Search logs
        <input type="search" value={typed} onChange={(event) => setTyped(event.target.value)} placeholder="text to find" />
      </label>
      <LogLines key={search} id={id} search={search} live={live} />
    </>
  );
}

/**
 * Lines held so far, followed while the run is live: each poll asks only for lines after the last
 * one held. A final run is still asked now and then: its job's last lines can land after its state.
 */
function LogLines({ id, search, live }: { id: string; search: string; live: boolean }) {
  const trpc = useTRPC();
  const [lines, setLines] = useState<LogRecord[]>([]);
  const afterId = lines.at(-1)?.id ?? 0;
  const page = useQuery(
    trpc.flowRuns.logs.queryOptions({ flowRunId: id, afterId, limit: 1000, search: search || undefined }, { refetchInterval: live ? 1000 : 5000 }),
  );
  useEffect(() => {
    const fresh = page.data;
    if (fresh?.length) setLines((held) => ((held.at(-1)?.id ?? 0) < (fresh[0]?.id ?? 0) ? [...held, ...fresh] : held));
  }, [page.data]);
  return (
    <>
      <ErrorNote error={page.error} />
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus, so a keyboard can scroll it (WCAG 2.1.1). */}
      <div className="logs" role="log" aria-live={live ? 'polite' : 'off'} tabIndex={0} aria-label="Log lines">
        {lines.length === 0 ? (
          <p className="muted">{search ? 'No line matches.' : live ? 'No logs yet…' : 'No logs.'}</p>
        ) : (
          lines.map((line) => (
            <div key={line.id} className={`log log-${line.level}`}>
              <Time iso={line.timestamp} /> <span className="level">{line.level}</span> <span className="message">{line.message}</span>
            </div>
          ))
        )}
      </div>
    </>
  );
}
