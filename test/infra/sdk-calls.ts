import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import ts from 'typescript';
import { esbuildBuildOptions } from '../../infra/bundling.ts';
import { PROJECT_ROOT } from '../../infra/constructs/tanium-function.ts';
import type { FunctionName } from '../../infra/families.ts';

/**
 * The IAM actions each AWS SDK command needs, by the package that exports it. A command the code
 * sends must be here: a new call fails the permissions test until someone decides what it needs.
 */
export const COMMAND_ACTIONS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  '@aws-sdk/client-s3': {
    // S3 answers a missing key 404 only to a caller allowed s3:ListBucket, 403 otherwise: the vault
    // tells "not stored yet" and "no such vault_id" from a refusal by that 404.
    GetObjectCommand: ['s3:GetObject', 's3:ListBucket'],
    HeadObjectCommand: ['s3:GetObject', 's3:ListBucket'],
    PutObjectCommand: ['s3:PutObject'],
    DeleteObjectCommand: ['s3:DeleteObject'],
    // Reads the source object and writes the destination.
    CopyObjectCommand: ['s3:GetObject', 's3:PutObject'],
    UploadPartCopyCommand: ['s3:GetObject', 's3:PutObject'],
    // Every step of a multipart upload but the abort is authorized as s3:PutObject.
    CreateMultipartUploadCommand: ['s3:PutObject'],
    UploadPartCommand: ['s3:PutObject'],
    CompleteMultipartUploadCommand: ['s3:PutObject'],
    AbortMultipartUploadCommand: ['s3:AbortMultipartUpload'],
    PutObjectTaggingCommand: ['s3:PutObjectTagging'],
    ListObjectsV2Command: ['s3:ListBucket'],
  },
  '@aws-sdk/client-dynamodb': {
    GetItemCommand: ['dynamodb:GetItem'],
    PutItemCommand: ['dynamodb:PutItem'],
    UpdateItemCommand: ['dynamodb:UpdateItem'],
    DeleteItemCommand: ['dynamodb:DeleteItem'],
  },
  // The document client's commands are the item commands with marshalling.
  '@aws-sdk/lib-dynamodb': {
    GetCommand: ['dynamodb:GetItem'],
    PutCommand: ['dynamodb:PutItem'],
    UpdateCommand: ['dynamodb:UpdateItem'],
    DeleteCommand: ['dynamodb:DeleteItem'],
  },
  '@aws-sdk/client-sqs': {
    ChangeMessageVisibilityCommand: ['sqs:ChangeMessageVisibility'],
    // Batch APIs are authorized as their single-message action.
    ChangeMessageVisibilityBatchCommand: ['sqs:ChangeMessageVisibility'],
  },
  '@aws-sdk/client-eventbridge': {
    PutEventsCommand: ['events:PutEvents'],
  },
  '@aws-sdk/client-secrets-manager': {
    GetSecretValueCommand: ['secretsmanager:GetSecretValue'],
  },
};

/** The client package that sends a module's commands (the document client sends DynamoDB's). */
const CLIENT_OF_MODULE: Readonly<Record<string, string>> = {
  '@aws-sdk/lib-dynamodb': '@aws-sdk/client-dynamodb',
};

/** A library export that sends SDK commands of its own: our code never names them. */
export interface LibraryCalls {
  /** The client package whose commands it sends. */
  readonly client: string;
  /** The library file that sends them, under node_modules: the test reads it to keep `sends` true. */
  readonly file: string;
  /** Commands of `client` it sends (their actions come from COMMAND_ACTIONS). */
  readonly sends: readonly string[];
  /**
   * Commands the file can send that our use of it does not: each sent after all when a file that imports
   * the export matches `unless` (the option that turns it on).
   */
  readonly notSent?: Readonly<Record<string, { readonly unless: RegExp; readonly reason: string }>>;
}

export const LIBRARY_CALLS: Readonly<Record<string, Readonly<Record<string, LibraryCalls>>>> = {
  '@aws-sdk/lib-storage': {
    Upload: {
      client: '@aws-sdk/client-s3',
      file: '@aws-sdk/lib-storage/dist-es/Upload.js',
      sends: [
        'PutObjectCommand',
        'CreateMultipartUploadCommand',
        'UploadPartCommand',
        'CompleteMultipartUploadCommand',
        'AbortMultipartUploadCommand',
      ],
      notSent: {
        PutObjectTaggingCommand: { unless: /\btags\s*:/, reason: 'sent only for the `tags` option' },
      },
    },
  },
  '@aws-lambda-powertools/idempotency/dynamodb': {
    // Our subclass (OwnRecordsPersistence) replaces the put and the delete; the base keeps all four.
    DynamoDBPersistenceLayer: {
      client: '@aws-sdk/client-dynamodb',
      file: '@aws-lambda-powertools/idempotency/lib/esm/persistence/DynamoDBPersistenceLayer.js',
      sends: ['GetItemCommand', 'PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'],
    },
  },
  '@aws-lambda-powertools/parameters/secrets': {
    SecretsProvider: {
      client: '@aws-sdk/client-secrets-manager',
      file: '@aws-lambda-powertools/parameters/lib/esm/secrets/SecretsProvider.js',
      sends: ['GetSecretValueCommand'],
    },
  },
};

/**
 * AWS library exports that send nothing themselves. SDK clients and exceptions are not listed: a client
 * sends only the commands it is given.
 */
export const SENDS_NOTHING: Readonly<Record<string, readonly string[]>> = {
  '@aws-sdk/lib-dynamodb': ['DynamoDBDocumentClient'],
  '@aws-sdk/util-dynamodb': ['marshall', 'unmarshall'],
  // Logs and EMF metrics go to stdout; the batch processor reports failures in its response.
  '@aws-lambda-powertools/logger': ['Logger'],
  '@aws-lambda-powertools/metrics': ['Metrics', 'MetricUnit'],
  '@aws-lambda-powertools/batch': ['BatchProcessor', 'EventType', 'processPartialResponse'],
  // Idempotency reads and writes through the persistence layer it is given.
  '@aws-lambda-powertools/idempotency': [
    'IdempotencyConfig',
    'makeIdempotent',
    'IdempotencyItemAlreadyExistsError',
  ],
  '@aws-lambda-powertools/idempotency/persistence': ['IdempotencyRecord'],
  // An error class, to tell a secret that is not JSON from a failed read.
  '@aws-lambda-powertools/parameters/errors': ['TransformParameterError'],
};

const AWS_MODULE = /^@(aws-sdk|aws-lambda-powertools|smithy)\//;
const CLIENT_MODULE = /^@aws-sdk\/client-[a-z0-9-]+$/;

/** One AWS call a function's code can make. */
export interface SdkCall {
  /** The project file that imports what sends it. */
  readonly file: string;
  /** `HeadObjectCommand`, or `Upload -> UploadPartCommand` for a library's call. */
  readonly command: string;
  /** The client package that sends it. */
  readonly client: string;
  readonly action: string;
}

/** What a function's bundle can send, and what the test could not classify. */
export interface FunctionCalls {
  readonly calls: SdkCall[];
  /** Imports, commands and library files the tables above do not know, each saying what to add. */
  readonly unknown: string[];
  /** The `@aws-sdk/client-*` packages in the bundle. */
  readonly bundledClients: string[];
  /** Every package with a file in the bundle. */
  readonly bundledPackages: string[];
}

/** The bundle's inputs, as the stack builds it (paths relative to the project root). */
async function bundleInputs(name: FunctionName): Promise<string[]> {
  const result = await esbuild.build({
    ...esbuildBuildOptions(name, join('out', name, 'index.mjs')),
    absWorkingDir: PROJECT_ROOT,
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

function packageOf(input: string): string | undefined {
  return /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
}

const textCache = new Map<string, string>();
function read(path: string): string {
  let text = textCache.get(path);
  if (text === undefined) {
    text = readFileSync(join(PROJECT_ROOT, path), 'utf8');
    textCache.set(path, text);
  }
  return text;
}

/** The `new XxxCommand(` a library file makes. */
function commandsConstructedIn(path: string): Set<string> {
  return new Set([...read(path).matchAll(/\bnew\s+(\w+Command)\s*\(/g)].map((m) => m[1]!));
}

/** Value imports (and re-exports) from AWS packages in a project source: [module, exported name]. */
function awsImports(file: string, unknown: string[]): Array<[string, string]> {
  const text = read(file);
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const found: Array<[string, string]> = [];
  for (const statement of source.statements) {
    const isImport = ts.isImportDeclaration(statement);
    if (!isImport && !ts.isExportDeclaration(statement)) continue;
    const specifier = statement.moduleSpecifier;
    if (!specifier || !ts.isStringLiteral(specifier) || !AWS_MODULE.test(specifier.text)) continue;
    const module = specifier.text;
    const clause = isImport ? statement.importClause : undefined;
    if (isImport ? clause?.isTypeOnly : statement.isTypeOnly) continue;
    const bindings = isImport ? clause?.namedBindings : statement.exportClause;
    if ((isImport && clause?.name) || !bindings || !('elements' in bindings)) {
      unknown.push(`${file}: import the names from ${module} one by one, so the test can see what is sent`);
      continue;
    }
    for (const element of bindings.elements) {
      if (!element.isTypeOnly) found.push([module, (element.propertyName ?? element.name).text]);
    }
  }
  for (const module of dynamicImports(source)) {
    if (!AWS_MODULE.test(module)) continue;
    // A client loaded when first needed (left to the runtime's copy of the SDK): the file may send any
    // of its commands it names.
    if (CLIENT_MODULE.test(module) && COMMAND_ACTIONS[module]) {
      const named = new Set([...text.matchAll(/\b(\w+Command)\b/g)].map((m) => m[1]!));
      for (const command of named) found.push([module, command]);
    } else {
      unknown.push(`${file}: a dynamic import of ${module}; import it statically so the test sees it`);
    }
  }
  return found;
}

/** The modules a source loads with `import('...')` (a `typeof import('...')` type loads nothing). */
function dynamicImports(source: ts.SourceFile): string[] {
  const modules: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    )
      modules.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return modules;
}

/** The calls a project file can make through one import, or why it is not known. */
function callsOfImport(file: string, module: string, name: string, unknown: string[]): SdkCall[] {
  const library = LIBRARY_CALLS[module]?.[name];
  if (library) {
    const notSent = Object.entries(library.notSent ?? {});
    const sent = [...library.sends, ...notSent.filter(([, n]) => n.unless.test(read(file))).map(([c]) => c)];
    return sent.flatMap((command) =>
      commandCalls(file, library.client, command, `${name} -> ${command}`, unknown, library.client),
    );
  }
  const commands = COMMAND_ACTIONS[module];
  if (commands && name.endsWith('Command'))
    return commandCalls(file, module, name, name, unknown, CLIENT_OF_MODULE[module] ?? module);
  if (SENDS_NOTHING[module]?.includes(name)) return [];
  if ((CLIENT_MODULE.test(module) || commands) && /(Client|Exception)$/.test(name)) return [];
  unknown.push(
    `${file}: ${name} from ${module} is not known; add it to COMMAND_ACTIONS, LIBRARY_CALLS or SENDS_NOTHING (test/infra/sdk-calls.ts)`,
  );
  return [];
}

function commandCalls(
  file: string,
  module: string,
  command: string,
  label: string,
  unknown: string[],
  client: string,
): SdkCall[] {
  const actions = COMMAND_ACTIONS[module]?.[command];
  if (!actions) {
    unknown.push(
      `${file}: ${label} from ${module} has no IAM action in COMMAND_ACTIONS (test/infra/sdk-calls.ts); add the actions it needs`,
    );
    return [];
  }
  return actions.map((action) => ({ file, command: label, client, action }));
}

/** Library files that construct commands without being in LIBRARY_CALLS, and entries that no longer hold. */
function checkLibraries(inputs: string[], unknown: string[]): void {
  const files = new Map(
    Object.values(LIBRARY_CALLS).flatMap((exports) => Object.values(exports).map((l) => [l.file, l])),
  );
  for (const input of inputs) {
    const pkg = packageOf(input);
    // The SDK's own packages construct commands only in waiters, paginators and aggregated clients,
    // which are exports our code would have to import (and the import check would stop).
    if (!pkg || CLIENT_MODULE.test(pkg) || pkg in COMMAND_ACTIONS) continue;
    const constructed = commandsConstructedIn(input);
    if (constructed.size === 0) continue;
    const relative = input.slice(input.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const known = files.get(relative);
    if (!known) {
      unknown.push(`${relative} sends ${[...constructed].join(', ')}: add its export to LIBRARY_CALLS`);
      continue;
    }
    const listed = new Set([...known.sends, ...Object.keys(known.notSent ?? {})]);
    const differ = [...constructed]
      .filter((c) => !listed.has(c))
      .concat([...listed].filter((c) => !constructed.has(c)));
    if (differ.length > 0)
      unknown.push(`${relative} no longer sends what LIBRARY_CALLS says (differs in ${differ.join(', ')})`);
  }
}

/**
 * Every AWS call a function's code can make: the SDK commands and the library exports imported by the
 * project sources its bundle includes (file by file, whether or not the function reaches the code).
 */
export async function callsOf(name: FunctionName): Promise<FunctionCalls> {
  const inputs = await bundleInputs(name);
  const unknown: string[] = [];
  const calls: SdkCall[] = [];
  for (const file of inputs.filter((input) => packageOf(input) === undefined)) {
    for (const [module, exported] of awsImports(file, unknown))
      calls.push(...callsOfImport(file, module, exported, unknown));
  }
  checkLibraries(inputs, unknown);
  const bundledPackages = [...new Set(inputs.map(packageOf).filter((p): p is string => !!p))].sort();
  const bundledClients = bundledPackages.filter((p) => CLIENT_MODULE.test(p));
  return { calls, unknown, bundledClients, bundledPackages };
}
