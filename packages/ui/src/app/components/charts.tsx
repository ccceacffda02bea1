/** The two charts, drawn by Chart.js (only the parts they use are registered, to keep the bundle small). */
import type { FlowRun, RunActivity } from '@drover/schemas';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { useEffect, useRef } from 'react';
import { localTime, STATE_COLORS, STATE_TYPES } from '../format.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

type Config = ConstructorParameters<typeof Chart>[1];

/** A Chart.js chart on a canvas, rebuilt when its config changes and destroyed on unmount. */
function ChartCanvas({ config, label, height }: { config: Config; label: string; height: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const textColor = getComputedStyle(document.documentElement).getPropertyValue('--muted').trim() || '#666';
    Chart.defaults.color = textColor;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [config]);
  return (
    <div className="chart" style={{ height }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

const hourLabel = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** Runs of each hour of the window, stacked by state. */
export function ActivityChart({ activity, since, hours }: { activity: RunActivity; since: number; hours: number }) {
  const byHour = new Map(activity.map((bucket) => [Date.parse(bucket.hour), bucket.counts]));
  const start = Math.floor(since / 3_600_000) * 3_600_000;
  const slots = Array.from({ length: hours + 1 }, (_, i) => start + i * 3_600_000);
  const states = STATE_TYPES.filter((state) => activity.some((bucket) => (bucket.counts as Record<string, number>)[state]));
  const total = activity.reduce((sum, bucket) => sum + Object.values(bucket.counts).reduce((a, b) => a + (b ?? 0), 0), 0);
  const config: Config = {
    type: 'bar',
    data: {
      labels: slots.map((slot) => hourLabel.format(slot)),
      datasets: states.map((state) => ({
        label: state.toLowerCase(),
        backgroundColor: STATE_COLORS[state],
        data: slots.map((slot) => (byHour.get(slot) as Record<string, number> | undefined)?.[state] ?? 0),
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: 'bottom' } },
    },
  };
  const summary = `Runs by state per hour over the last ${hours} hours: ${total} runs${states.length ? ` (${states.map((s) => s.toLowerCase()).join(', ')})` : ''}`;
  return <ChartCanvas config={config} label={summary} height={220} />;
}

/** The runs on a time axis, one lane per deployment (runs of no deployment share a lane). */
export function RunTimeline({ runs, now }: { runs: readonly FlowRun[]; now: number }) {
  const lanes = [...new Set(runs.map(laneOf))];
  const config: Config = {
    type: 'bar',
    data: {
      labels: lanes,
      datasets: STATE_TYPES.filter((state) => runs.some((run) => run.state.type === state)).map((state) => ({
        label: state.toLowerCase(),
        backgroundColor: STATE_COLORS[state],
        minBarLength: 3,
        data: runs
          .filter((run) => run.state.type === state)
          .map((run) => {
            const start = Date.parse(run.startTime ?? run.expectedStartTime);
            const end = run.endTime ? Date.parse(run.endTime) : run.startTime ? now : start;
            return { x: [start, end] as [number, number], y: laneOf(run), name: run.name };
          }),
      })),
    },
    options: {
      indexAxis: 'y',
      animation: false,
      maintainAspectRatio: false,
      parsing: { xAxisKey: 'x', yAxisKey: 'y' },
      scales: {
        x: { type: 'linear', ticks: { callback: (value) => hourLabel.format(Number(value)) } },
        y: { type: 'category', stacked: true },
      },
      plugins: {
        legend: { position: 'bottom' },
        tooltip: {
          callbacks: {
            label: (item) => {
              const point = item.raw as { x: [number, number]; name: string };
              return `${point.name}: ${localTime(new Date(point.x[0]).toISOString())}`;
            },
          },
        },
      },
    },
  };
  return (
    <ChartCanvas config={config} label={`Timeline of ${runs.length} runs in ${lanes.length} deployments`} height={Math.max(140, 40 + lanes.length * 28)} />
  );
}

function laneOf(run: FlowRun): string {
  return run.deploymentName ? `${run.flowName}/${run.deploymentName}` : `${run.flowName} (no deployment)`;
}
