/**
 * What the client adds to a search: the same POST /v1/search sent by Ragwright.search and by a
 * bare fetch, interleaved (so that load on the machine hits both alike), against a real
 * `ragwright serve` started as the tests start it. `npm run bench` prints the medians and their difference.
 */
import { Ragwright } from "../src/index.js";
import { live, stopLive, TRAVEL } from "../test/harness.js";

const ROUNDS = Number(process.env.ROUNDS ?? 300);

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const server = await live();
  const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
  const up = await rw.documents.upload({ name: "travel.md", data: Buffer.from(TRAVEL) });
  await rw.documents.waitForJob(up.job_id, { intervalMs: 50 });
  const body = { query: "meal allowance abroad", k: 5 };
  const bare = async (): Promise<unknown> => {
    const res = await fetch(`${server.url}/v1/search`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.keys.alice}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  };
  const client = (): Promise<unknown> => rw.search(body);
  for (let i = 0; i < 30; i++) await Promise.all([bare(), client()]); // warm both paths
  const times = { bare: [] as number[], client: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, call] of i % 2 ? ([["bare", bare], ["client", client]] as const) : ([["client", client], ["bare", bare]] as const)) {
      const t0 = performance.now();
      await call();
      times[name].push(performance.now() - t0);
    }
  }
  const p50 = { bare: quantile(times.bare, 0.5), client: quantile(times.client, 0.5) };
  const p90 = { bare: quantile(times.bare, 0.9), client: quantile(times.client, 0.9) };
  console.log(`search, ${ROUNDS} calls each, interleaved, Node ${process.version}`);
  console.log(`bare fetch:        p50 ${p50.bare.toFixed(2)} ms, p90 ${p90.bare.toFixed(2)} ms`);
  console.log(`Ragwright.search:  p50 ${p50.client.toFixed(2)} ms, p90 ${p90.client.toFixed(2)} ms`);
  console.log(`client adds:       ${(p50.client - p50.bare).toFixed(2)} ms at p50`);
  await stopLive();
}

await main();
