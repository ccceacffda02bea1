// A job that speaks the engine's protocol with bare fetch (no SDK to load), so a test can start
// hundreds of real processes quickly: RUNNING, a short pause, COMPLETED.
const url = process.env.DROVER_API_URL;
const flowRunId = process.env.DROVER_FLOW_RUN_ID;
const setState = async (state) => {
  const res = await fetch(`${url}/flowRuns.setState`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ flowRunId, state }),
  });
  if (!res.ok) throw new Error(`setState ${state.type}: ${res.status} ${await res.text()}`);
};
await setState({ type: 'RUNNING' });
await new Promise((resolve) => setTimeout(resolve, 50));
await setState({ type: 'COMPLETED' });
