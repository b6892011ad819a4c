/*
Node's own modules, loaded on first use. An ES `import` of a builtin builds its whole module
namespace, which loads every lazily-loaded part of it (importing `node:net` loads streams,
dgram and child_process internals); `process.getBuiltinModule` hands back the module object
and loads nothing more until a property is read. The probe path pays only for what it uses.
*/
export const builtin = {
  childProcess: () =>
    process.getBuiltinModule('node:child_process') as typeof import('node:child_process'),
  fs: () => process.getBuiltinModule('node:fs') as typeof import('node:fs'),
  events: () => process.getBuiltinModule('node:events') as typeof import('node:events'),
  crypto: () => process.getBuiltinModule('node:crypto') as typeof import('node:crypto'),
  net: () => process.getBuiltinModule('node:net') as typeof import('node:net'),
  os: () => process.getBuiltinModule('node:os') as typeof import('node:os'),
  util: () => process.getBuiltinModule('node:util') as typeof import('node:util'),
};
