// bench/proc.mjs — what the benchmarks read about processes from /proc (Linux): the processes of
// a process group (wrangler dev runs its node and two workerd processes in one), their CPU time
// and resident memory, and the whole machine's CPU time.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // /proc CPU times are in 1/100 s (USER_HZ)

// The processes of group `pgid`: [{ pid, comm, cpuMs }] (user + system CPU so far).
export function groupProcesses(pgid) {
  const out = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      out.push({ pid, comm: stat.slice(stat.indexOf('(') + 1, close), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

// CPU ms so far of each workerd process of group `pgid` (pid → ms).
export function workerdCpuMs(pgid) {
  return Object.fromEntries(groupProcesses(pgid).filter((p) => p.comm === 'workerd').map((p) => [p.pid, p.cpuMs]));
}

// Of two readings of workerdCpuMs, the CPU ms of the busiest workerd in between: the one running
// the worker (wrangler dev's other workerd is its proxy). A process that appeared in between
// counts from zero.
export function busiestWorkerdMs(before, after) {
  return Math.max(0, ...Object.keys(after).map((pid) => after[pid] - (before[pid] ?? 0)));
}

// Resident memory (MiB) of the workerd processes of group `pgid`.
export function workerdRssMiB(pgid) {
  let kib = 0;
  for (const p of groupProcesses(pgid).filter((q) => q.comm === 'workerd')) {
    try { kib += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1] ?? 0); } catch { /* exited */ }
  }
  return kib / 1024;
}

// The whole machine's busy CPU ms so far (user, nice, system, irq, softirq, steal).
export function machineCpuMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * TICK_MS;
}
