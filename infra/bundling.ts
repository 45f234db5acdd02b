import { fileURLToPath } from 'node:url';

/**
 * The one definition of how a function is bundled. The CDK functions (infra/constructs/tanium-function.ts)
 * and the benchmarks build with these settings, so a measured bundle is the deployed bundle.
 *
 * No CDK import here: the benchmark calls esbuild directly with `esbuildBuildOptions`.
 */
export const BUNDLE_SETTINGS = {
  format: 'esm',
  platform: 'node',
  /** Matches the Lambda runtime (nodejs22.x). */
  target: 'node22',
  minify: true,
  sourcemap: true,
  // Source maps carry names and positions only: the sources would double their size for no gain.
  sourcesContent: false,
  // ESM builds of dependencies first; they tree-shake better than their CommonJS builds.
  mainFields: ['module', 'main'],
  /**
   * The AWS SDK is bundled, pinned to the version the tests ran with, except the credential providers
   * Lambda never reaches. Lambda puts the role's credentials in the environment, so the SDK's default
   * chain stops at its first link (`fromEnv`); every later link (SSO, shared ini files, a credential
   * process, web identity, container and instance metadata) is loaded by a dynamic `import()` only when
   * the ones before it failed. Left out, they take 108 kB (the STS/SSO clients among them) and about a
   * tenth of the import time off every function (BENCHMARKS.md). Outside Lambda without credentials in
   * the environment, a bundle fails with "Cannot find package '@aws-sdk/credential-provider-ini'".
   */
  external: [
    '@aws-sdk/credential-provider-sso',
    '@aws-sdk/credential-provider-ini',
    '@aws-sdk/credential-provider-process',
    '@aws-sdk/credential-provider-web-identity',
    '@aws-sdk/credential-provider-http',
    '@smithy/credential-provider-imds',
    /**
     * undici's HTTP parser is WebAssembly, bundled twice: with SIMD, which Lambda's x86_64 and arm64
     * (Node 22's V8) run, and without, loaded only when the SIMD build fails to compile or
     * UNDICI_NO_WASM_SIMD=1. Left out, it takes 72 kB (a tenth) off every function's package; the import
     * time barely moves (1-2 ms: V8 skips the unread module's body). A process that does need it fails
     * its first Tanium request with "Cannot find module '../llhttp/llhttp-wasm.js'".
     */
    '*/llhttp/llhttp-wasm.js',
  ] as string[],
  // Some bundled CommonJS dependencies call `require` for Node built-ins, which ESM output lacks.
  banner:
    "import { createRequire as topLevelCreateRequire } from 'node:module';const require = topLevelCreateRequire(import.meta.url);",
  /** File name Lambda loads for an ESM bundle (`index.handler`). */
  outFile: 'index.mjs',
} as const;

/**
 * The functions with a vault: get file streams evidence into it, upload intel doc reads from it. They
 * bundle the S3 client; evidence also lib-storage and the rest of the store code, which intel's vault
 * (shared/vault/vault-reader.ts) leaves out.
 */
export const VAULT_FUNCTIONS: readonly string[] = ['evidence', 'intel'];

/** The S3 client, which only the vault functions bundle. */
const S3_CLIENT_MODULE = '@aws-sdk/client-s3';

/**
 * What a function's bundle leaves out: the credential providers above, and for the functions without a
 * vault the S3 client too. They use S3 for one thing, a result too big for an EventBridge event, and
 * import the client only then (shared/vault/runtime-s3-api.ts), from the AWS SDK v3 the Lambda runtime
 * provides (nodejs18.x and later; CDK leaves all of `@aws-sdk/*` to it by default). Bundled, it was
 * 163 kB of each of those bundles and about a fifth of their import time (BENCHMARKS.md). A PutObject is
 * the one call made through that copy, so its version, which AWS updates, does not matter.
 */
export function externalModules(functionName: string): string[] {
  const external = [...BUNDLE_SETTINGS.external];
  return VAULT_FUNCTIONS.includes(functionName) ? external : [...external, S3_CLIENT_MODULE];
}

/** A function's entry point, `functions/<name>/index.ts`. */
export function functionEntry(functionName: string): string {
  return fileURLToPath(new URL(`../functions/${functionName}/index.ts`, import.meta.url));
}

/** Roughly esbuild's BuildOptions, kept structural so this file needs no esbuild types at runtime. */
export interface EsbuildBuildOptions {
  entryPoints: string[];
  outfile: string;
  bundle: true;
  format: 'esm';
  platform: 'node';
  target: string;
  minify: boolean;
  sourcemap: boolean;
  sourcesContent: boolean;
  mainFields: string[];
  external: string[];
  banner: { js: string };
  metafile: boolean;
}

/**
 * esbuild options equivalent to what CDK's NodejsFunction runs for the function `functionName`, writing
 * `outfile`; `entry` replaces its entry point (a test bundling part of a function). Pass the result to
 * `esbuild.build()`.
 */
export function esbuildBuildOptions(
  functionName: string,
  outfile: string,
  entry = functionEntry(functionName),
): EsbuildBuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: BUNDLE_SETTINGS.format,
    platform: BUNDLE_SETTINGS.platform,
    target: BUNDLE_SETTINGS.target,
    minify: BUNDLE_SETTINGS.minify,
    sourcemap: BUNDLE_SETTINGS.sourcemap,
    sourcesContent: BUNDLE_SETTINGS.sourcesContent,
    mainFields: [...BUNDLE_SETTINGS.mainFields],
    external: externalModules(functionName),
    banner: { js: BUNDLE_SETTINGS.banner },
    metafile: true,
  };
}

/** The deployed size limit the tests hold every bundle to (bytes of `index.mjs`). */
export const MAX_BUNDLE_BYTES = 1_200_000;

/**
 * The functions' NODE_OPTIONS: with source maps, stack traces point into the TypeScript sources through
 * the separate .map file, which Node then parses at every cold start. The handler benchmark imports
 * each bundle with these options too.
 */
export function functionNodeOptions(sourceMaps: boolean): { NODE_OPTIONS?: string } {
  return sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {};
}
