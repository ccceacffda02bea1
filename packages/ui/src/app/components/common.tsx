/** Small pieces every page uses: times, state badges, JSON, errors, confirmations. */
import { type ReactNode, useState } from 'react';
import { localTime, STATE_COLORS } from '../format.js';

/** A time in the browser's zone, with its UTC form on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">–</span>;
  return (
    <time
      dateTime={iso}
      title={`${new Date(iso)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')}`}
    >
      {localTime(iso)}
    </time>
  );
}

export function StateBadge({ type, name }: { type: string; name?: string }) {
  return (
    <span className="badge" style={{ borderColor: STATE_COLORS[type] }} data-state={type}>
      {name && name.toUpperCase() !== type ? `${name} (${type.toLowerCase()})` : type.toLowerCase()}
    </span>
  );
}

/**
 * A status (READY, NOT_READY, ONLINE, OFFLINE) in words with its coloured dot, or `paused` when
 * the thing is paused, which says more than its status then; `reason` shows on hover.
 */
export function Status({ status, paused = false, reason }: { status: string; paused?: boolean; reason?: string | null }) {
  const shown = paused ? 'paused' : status.toLowerCase();
  return (
    <span className={`status status-${shown}`} title={reason ?? undefined}>
      {shown.replace('_', ' ')}
    </span>
  );
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus, so a keyboard can scroll it (WCAG 2.1.1).
    <pre className="json" title={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {(error as Error).message ?? String(error)}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/** A button that asks once more before it acts ("Delete" → "Really delete?"). */
export function ConfirmButton({
  onConfirm,
  children,
  confirmLabel,
  disabled,
}: {
  onConfirm: () => void;
  children: ReactNode;
  confirmLabel: string;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {children}
      </button>
    );
  }
  return (
    <span className="confirm">
      <button
        type="button"
        className="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Keep it
      </button>
    </span>
  );
}

/** A label and its value, in a definition list. */
export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children ?? <span className="muted">–</span>}</dd>
    </>
  );
}
