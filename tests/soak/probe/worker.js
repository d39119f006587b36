// A kipp-free Durable Object worker: the soak's yardstick for what workerd itself (under
// `wrangler dev`) keeps per Durable Object. Each object does what a kipp session object does in
// the soak, without any kipp code: it stores a record (SQLite-backed storage), sets an alarm,
// accepts a hibernatable WebSocket, sends the state and closes it. See docs/decisions.md
// § Soak and benchmarks ("Memory: what workerd keeps per Durable Object").
import { DurableObject } from 'cloudflare:workers';

export class Probe extends DurableObject {
  async fetch(request) {
    const record = JSON.stringify({ status: 'CREATED', history: [], filler: 'x'.repeat(1500) });
    await this.ctx.storage.put('rec', record);
    await this.ctx.storage.setAlarm(Date.now() + 60_000);
    if (request.headers.get('upgrade') !== 'websocket') return new Response('stored');
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.send(record);
    return new Response(null, { status: 101, webSocket: client });
  }

  async alarm() {}

  async webSocketMessage(ws) {
    ws.send('{"status":"CANCELLED"}');
    ws.close(1000, 'session ended');
  }
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).searchParams.get('object');
    if (!name) return new Response('probe');
    return env.PROBE.get(env.PROBE.idFromName(name)).fetch(request);
  },
};
