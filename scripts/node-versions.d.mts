export declare const NODE_VERSIONS: Record<string, string>;
export declare function ensureNode(
  version: string,
  options?: {log?: (text: string) => void},
): string;
export declare function cachedNode(version: string): string | undefined;
