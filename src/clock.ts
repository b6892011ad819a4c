/*
Milliseconds on a monotonic clock, for durations and deadlines. Node's `performance` global
would do, but its first use loads the perf_hooks internals (1.3 ms in a fresh process
here), while process.hrtime is ready at start-up.
*/
export const msNow = (): number => Number(process.hrtime.bigint()) / 1e6;
