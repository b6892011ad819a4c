// serve(): the supervisor's code loads when it is called, not when the package is imported.
import type {ServeOptions, ServeSupervisor} from './supervisor.js';

/**
Holds the listener of `options.port` and hands it to each new process of `options.command`;
see ServeOptions and ServeSupervisor (src/serve/supervisor.ts).
*/
export async function serve(options: ServeOptions): Promise<ServeSupervisor> {
  return (await import('./supervisor.js')).serve(options);
}
