// What a server keeps of the runs it wrote: bounded in count and in size, whatever the runs hold.
import { MAX_JSON_OBJECT_BYTES } from '@drover/schemas';
import { describe, expect, it } from 'vitest';
import type { flowRuns } from '../../db/pgSchema.js';
import { RECENT_RUNS_CAPACITY, RecentRuns } from './recentRuns.js';

type RunRow = typeof flowRuns.$inferSelect;

/** Parameters, job variables and a result of the largest size allowed. */
const blob = 'x'.repeat(MAX_JSON_OBJECT_BYTES - 20);

/** A run row as a create writes it, holding `blob` three times. */
function bigRun(id: string): RunRow {
  return {
    id,
    name: 'big',
    flowId: 'flow',
    deploymentId: 'deployment',
    workQueueId: null,
    stateType: 'RUNNING',
    stateName: 'Running',
    stateTimestamp: '2026-12-02T00:00:00.000Z',
    stateMessage: null,
    nextScheduledStartTime: null,
    expectedStartTime: '2026-12-02T00:00:00.000Z',
    startTime: '2026-12-02T00:00:00.000Z',
    endTime: null,
    runCount: 1,
    retries: 0,
    retryDelaySeconds: 0,
    retryInProcess: false,
    parameters: { blob },
    tags: ['a'],
    idempotencyKey: null,
    jobVariables: { blob },
    autoScheduled: false,
    parentFlowRunId: null,
    scheduleId: null,
    workerName: 'worker',
    claimHash: 'hash',
    infrastructureId: null,
    lastHeartbeat: null,
    traceContext: null,
    result: { blob },
    created: '2026-12-02T00:00:00.000Z',
    updated: '2026-12-02T00:00:00.000Z',
  };
}

describe('RecentRuns', () => {
  it("keeps what deciding a state change reads, not a run's parameters, job variables or result", () => {
    const recent = new RecentRuns();
    recent.remember({ run: bigRun('r1'), workPoolId: null, version: '7' });
    const kept = recent.get('r1');
    expect(kept).toMatchObject({ version: '7', workPoolId: null, run: { id: 'r1', stateType: 'RUNNING', claimHash: 'hash', runCount: 1 } });
    expect(kept?.run.parameters).toEqual({});
    expect(kept?.run.jobVariables).toEqual({});
    expect(kept?.run.result).toBeNull();
  });

  it('forgets the run written longest ago past its capacity, and a run forgotten on purpose', () => {
    const recent = new RecentRuns();
    for (let i = 0; i <= RECENT_RUNS_CAPACITY; i++) recent.remember({ run: bigRun(`r${i}`), workPoolId: null, version: String(i) });
    expect(recent.get('r0')).toBeUndefined();
    expect(recent.get('r1')?.version).toBe('1');
    // Written again, r1 becomes the newest: the next one past capacity pushes out r2 instead.
    recent.remember({ run: bigRun('r1'), workPoolId: null, version: 'again' });
    recent.remember({ run: bigRun('extra'), workPoolId: null, version: 'x' });
    expect(recent.get('r2')).toBeUndefined();
    expect(recent.get('r1')?.version).toBe('again');
    recent.forget('r1');
    expect(recent.get('r1')).toBeUndefined();
  });
});
