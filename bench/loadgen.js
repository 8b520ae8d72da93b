// The independent load generator of bench.independent: Node.js with
// @grpc/grpc-js, a gRPC stack that shares no code with grpcio. It loads the
// contract from protos/ and grpc.health.v1 from the grpc-health-check package,
// connects with mutual TLS, and runs what bench.independent asks, one JSON
// command a line on stdin, one JSON answer a line on stdout:
//   {"op": "closed", "call": "check", "seconds": 5}
//       -> {"rate": calls/s, "done": n, "refused": n}   (in_flight callers back to back)
//   {"op": "open", "calls": ["check", "health"], "rate": 900, "seconds": 5}
//       -> {"latencies": {"check": [ms, ...], "health": [ms, ...]}, "failed": n}
//          (calls issued at a fixed rate, the named calls taking turns)
// Usage: node loadgen.js CONFIG.json (target, protos, ca, cert, key, requests,
// in_flight, connections; see bench/independent.py).
'use strict';

const fs = require('fs');
const readline = require('readline');
const { performance } = require('perf_hooks');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const healthCheck = require('grpc-health-check');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const definition = protoLoader.loadSync(['dpa/registry/v1/transfers.proto', healthCheck.protoPath], {
  keepCase: true,
  includeDirs: [config.protos],
});
const checkTransfer = definition['dpa.registry.v1.TransferService'].CheckTransfer;
const healthCheckCall = definition['grpc.health.v1.Health'].Check;
const credentials = grpc.credentials.createSsl(
  fs.readFileSync(config.ca),
  fs.readFileSync(config.key),
  fs.readFileSync(config.cert),
);

// One connection per client (as the Python generator's channels), each
// carrying both calls. Requests are encoded once, answers left encoded, and
// channelz and retries off: grpc-js still spends about as much CPU per call
// as the server does on Health/Check (bench.independent shows the server's
// busy share to tell whose limit a maximum is).
const clients = [];
for (let c = 0; c < config.connections; c++) {
  clients.push(
    new grpc.Client(config.target, credentials, {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.enable_channelz': 0,
      'grpc.enable_retries': 0,
    }),
  );
}
const encoded = JSON.parse(fs.readFileSync(config.requests, 'utf8')).map(checkTransfer.requestSerialize);
const emptyHealth = healthCheckCall.requestSerialize({});
const raw = (b) => b;
const k = config.connections;
const calls = {
  health: (i, done) => clients[i % k].makeUnaryRequest(healthCheckCall.path, raw, raw, emptyHealth, done),
  check: (i, done) =>
    clients[i % k].makeUnaryRequest(checkTransfer.path, raw, raw, encoded[i % encoded.length], done),
};

function closedLoop(call, seconds) {
  return new Promise((resolve) => {
    const started = performance.now();
    const end = started + seconds * 1000;
    let done = 0;
    let refused = 0;
    let running = config.in_flight;
    const next = (i) => {
      if (performance.now() >= end) {
        if (--running === 0) {
          resolve({ rate: done / ((performance.now() - started) / 1000), done, refused });
        }
        return;
      }
      call(i, (err) => {
        if (err) refused++;
        else done++;
        next(i + config.in_flight);
      });
    };
    for (let w = 0; w < config.in_flight; w++) next(w);
  });
}

function openLoop(names, rate, seconds) {
  return new Promise((resolve) => {
    const latencies = Object.fromEntries(names.map((name) => [name, []]));
    const interval = 1000 / rate;
    const last = Math.floor((seconds * 1000) / interval); // calls 0..last, as the Python generator
    const start = performance.now();
    let issued = 0;
    let finished = 0;
    let failed = 0;
    const settle = () => {
      if (issued > last && finished === issued) resolve({ latencies, failed });
    };
    const issue = (i) => {
      const name = names[i % names.length];
      const t = performance.now();
      calls[name](Math.floor(i / names.length), (err) => {
        if (err) failed++;
        else latencies[name].push(Math.round((performance.now() - t) * 1000) / 1000);
        finished++;
        settle();
      });
    };
    const tick = () => {
      // Every call due by now goes out now: a late timer never thins the rate.
      while (issued <= last && start + issued * interval <= performance.now()) issue(issued++);
      if (issued <= last) setTimeout(tick, Math.max(0, start + issued * interval - performance.now()));
      else settle();
    };
    tick();
  });
}

async function answer(command) {
  if (command.op === 'closed') return closedLoop(calls[command.call], command.seconds);
  if (command.op === 'open') return openLoop(command.calls, command.rate, command.seconds);
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

async function main() {
  for await (const line of readline.createInterface({ input: process.stdin })) {
    process.stdout.write(JSON.stringify(await answer(JSON.parse(line))) + '\n');
  }
  for (const client of clients) client.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
