/**
 * The runbook's shape, written once in zod: the TypeScript types (`Runbook`, ...) and the
 * committed JSON Schema (`runbook.schema.json`, for editors) both derive from it.
 * Per-field rules (durations, names, keys) live here as refinements so every bad field is
 * reported with its path; rules across fields live in check.ts. Defaults are documented here and
 * resolved by compile.ts, so the parsed runbook stays what the author wrote.
 */
import { z } from 'zod';
import { parseDuration } from './durations.ts';
import { parseEd25519PublicKey } from './keys.ts';
import { hasControlCharacter, unsafeArgumentReason, unsafeNameReason } from './names.ts';

export const API_VERSION = 'lifeboat/v1';

/** shape.ts recognises a duration of the wrong type by this message and explains it. */
export const DURATION_TYPE_MESSAGE = 'a duration is a string like 30s, 5m, 1h30m or 7d';

export const Duration = z
  .string({ error: DURATION_TYPE_MESSAGE })
  .superRefine((value, ctx) => {
    const d = parseDuration(value);
    if (!d.ok)
      ctx.addIssue({ code: 'custom', message: d.message, params: { code: 'bad-duration', hint: d.hint } });
  })
  .meta({
    description: 'A duration: whole numbers with units ms, s, m, h, d, e.g. 30s, 5m, 1h30m, 7d.',
    // For editors only; the refinement above is what the checker enforces.
    pattern: '^([0-9]+(ms|s|m|h|d))+$',
  });

function safeName(what: string) {
  return z.string({ error: `${what} must be a string` }).superRefine((value, ctx) => {
    const bad = unsafeNameReason(value, what);
    if (bad)
      ctx.addIssue({ code: 'custom', message: bad.message, params: { code: 'bad-name', hint: bad.hint } });
  });
}

const Argument = z.string({ error: 'an argument must be a string' }).superRefine((value, ctx) => {
  const bad = unsafeArgumentReason(value);
  if (bad)
    ctx.addIssue({ code: 'custom', message: bad.message, params: { code: 'bad-name', hint: bad.hint } });
});

/** A refinement that reports `message` as an unsafe value (code bad-name) when `bad` holds. */
function refuse(bad: (value: string) => boolean, message: string) {
  return (value: string, ctx: z.RefinementCtx) => {
    if (bad(value))
      ctx.addIssue({ code: 'custom', message, params: { code: 'bad-name', hint: 'remove it' } });
  };
}

const PublicKey = z
  .string({ error: 'a key is a string: ed25519:<base64>' })
  .superRefine((value, ctx) => {
    const k = parseEd25519PublicKey(value);
    if (!k.ok)
      ctx.addIssue({ code: 'custom', message: k.message, params: { code: 'bad-key', hint: k.hint } });
  })
  .meta({
    description: "An operator's Ed25519 public key: ed25519:<base64 of the 32 raw bytes>.",
    pattern: '^ed25519:[A-Za-z0-9+/]{43}=$',
  });

export const OperationName = z.enum(['drill', 'failover', 'failback']);
const SiteRoleName = z.enum(['primary', 'secondary']);
const Port = z.int().min(1).max(65535);

const StepIn = z
  .array(OperationName)
  .meta({ description: 'The operations that run this step; the others skip it.' })
  .optional();

export const ApprovalStep = z.strictObject({
  approval: z
    .strictObject({
      role: safeName('role').meta({ description: 'The role whose operators may decide this gate.' }),
      within: Duration.optional().meta({ description: 'How long to wait for a decision (default 30m).' }),
      prompt: z.string().max(1000).optional().meta({ description: 'The question shown to approvers.' }),
      in: StepIn.meta({ description: 'Operations that run this gate (default: all).' }),
    })
    .meta({ description: 'A gate: the operation waits until an operator of the role approves it.' }),
});

export const RunStep = z.strictObject({
  run: z
    .strictObject({
      command: safeName('command').meta({
        description: "A script in the hooks directory of the site's worker; run without a shell.",
      }),
      args: z.array(Argument).max(64).optional().meta({ description: 'Arguments, passed as an array.' }),
      within: Duration.optional().meta({ description: 'Time limit (default 5m).' }),
      on: SiteRoleName.optional().meta({ description: 'Which site runs it (default secondary).' }),
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits')
        .optional()
        .meta({ description: 'When given, the worker refuses a script with another digest.' }),
      in: StepIn.meta({
        description: 'Operations that run this hook (default: failover, failback; never drill).',
      }),
    })
    .meta({ description: "A hook script run by a site's worker." }),
});

export const WaitStep = z.strictObject({
  wait: z
    .strictObject({
      for: Duration.meta({ description: 'How long to wait.' }),
      in: StepIn.meta({ description: 'Operations that run this wait (default: all).' }),
    })
    .meta({ description: 'A pause.' }),
});

export const Step = z.union([ApprovalStep, RunStep, WaitStep]);

const within = (dflt: string) =>
  Duration.optional().meta({ description: `How long to keep trying (default ${dflt}).` });

export const Check = z.union([
  z.strictObject({
    agent: z
      .strictObject({
        command: z.union([Argument, z.array(Argument).min(1)]).meta({
          description: 'Run in the guest through its agent, as an argument array (a string is one argument).',
        }),
        expect: z
          .string()
          .optional()
          .meta({ description: 'Text its output must contain (default: exit 0).' }),
        within: within('2m'),
      })
      .meta({ description: 'Runs a command in the guest through the guest agent.' }),
  }),
  z.strictObject({
    tcp: z
      .strictObject({ port: Port, within: within('2m') })
      .meta({ description: 'A TCP port accepts connections.' }),
  }),
  z.strictObject({
    http: z
      .strictObject({
        port: Port,
        path: z
          .string()
          .startsWith('/')
          .superRefine(
            refuse(
              (p) => hasControlCharacter(p) || /\s/.test(p),
              'an HTTP path has no spaces or control characters',
            ),
          )
          .optional()
          .meta({ description: 'Default /.' }),
        expect: z.int().min(100).max(599).optional().meta({ description: 'Expected status (default 200).' }),
        within: within('2m'),
      })
      .meta({ description: 'An HTTP GET answers with the expected status.' }),
  }),
  z.strictObject({
    serial: z
      .strictObject({ pattern: z.string().min(1), within: within('5m') })
      .meta({ description: 'The serial console prints a line matching the pattern.' }),
  }),
  z.strictObject({
    data: z
      .strictObject({
        command: z.array(Argument).min(1).optional().meta({
          description:
            'Run in the guest by the fsfreeze hook as the point is taken (needs consistency: application); the restored VM must print the same output and exit code. Without it, the workload records are compared.',
        }),
        within: within('10m'),
      })
      .meta({ description: "The restored VM's data matches what its recovery point recorded." }),
  }),
]);

export const Group = z.strictObject({
  name: safeName('group name'),
  vms: z.array(safeName('VM name')).meta({ description: 'The VMs of this group, by their hypervisor name.' }),
  dependsOn: z
    .array(safeName('group name'))
    .optional()
    .meta({ description: 'Groups that must be up first.' }),
  checks: z.array(Check).optional(),
  before: z.array(Step).optional().meta({ description: 'Steps before the group boots.' }),
  after: z.array(Step).optional().meta({ description: 'Steps after its checks pass.' }),
  onFailure: z
    .enum(['rollback', 'pause', 'continue'])
    .optional()
    .meta({ description: 'What a failure in this group does (default pause).' }),
});

export const Site = z.strictObject({
  name: safeName('site name')
    .optional()
    .meta({ description: "The site's own name (task queue site-<name>); defaults to its role." }),
  driver: safeName('driver').meta({ description: 'The hypervisor driver, e.g. libvirt.' }),
  uri: z.string().min(1).meta({ description: 'The hypervisor URI, e.g. qemu:///system.' }),
  storage: z
    .string()
    .startsWith('/', 'storage must be an absolute path')
    .superRefine(refuse((p) => p.split('/').includes('..'), "storage must not contain '..'"))
    .superRefine(refuse(hasControlCharacter, 'storage must not contain control characters'))
    .meta({ description: 'Replica store.' }),
  networks: z
    .record(safeName('network role'), safeName('network name'))
    .optional()
    .meta({ description: "Network role (production, bubble, ...) -> this site's network name." }),
});

export const RunbookSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Runbook'),
    metadata: z.strictObject({
      name: safeName('runbook name'),
      owner: z.string().min(1),
      description: z.string().optional(),
    }),
    objectives: z.strictObject({
      rpo: Duration.meta({ description: 'Recovery point objective: data loss we accept.' }),
      rto: Duration.meta({ description: 'Recovery time objective: downtime we accept.' }),
    }),
    operators: z.record(safeName('operator name'), z.strictObject({ key: PublicKey })).optional(),
    roles: z
      .record(safeName('role'), z.array(safeName('operator name')))
      .optional()
      .meta({ description: 'role -> the operators who may approve its gates.' }),
    administrators: z.array(safeName('role')).min(1).optional().meta({
      description:
        'Roles whose operators may sign a change of the operators, roles and keys the controller pinned (default: every role).',
    }),
    sites: z.strictObject({ primary: Site, secondary: Site }),
    replication: z.strictObject({
      every: Duration.meta({ description: 'How often a recovery point is taken.' }),
      consistency: z.enum(['crash', 'application']).optional().meta({ description: 'Default crash.' }),
      retention: z.strictObject({ points: z.int().min(1).max(10_000) }).optional(),
    }),
    groups: z.array(Group).min(1),
    drill: z
      .strictObject({
        network: safeName('network role')
          .optional()
          .meta({ description: 'Network role for drills (default bubble).' }),
        every: Duration.optional(),
        keepAtMost: Duration.optional().meta({ description: 'How long a drill copy may live.' }),
      })
      .optional(),
    failover: z
      .strictObject({
        network: safeName('network role')
          .optional()
          .meta({ description: 'Network role VMs join on failover and failback (default production).' }),
        commitWithin: Duration.optional(),
        onCommitTimeout: z.enum(['commit', 'rollback']).optional().meta({ description: 'Default rollback.' }),
      })
      .optional(),
  })
  .meta({ title: 'Lifeboat runbook', description: 'A disaster-recovery runbook (apiVersion lifeboat/v1).' });

export type Runbook = z.infer<typeof RunbookSchema>;
export type RunbookGroup = z.infer<typeof Group>;
export type RunbookStep = z.infer<typeof Step>;
export type RunbookCheck = z.infer<typeof Check>;
export type RunbookSite = z.infer<typeof Site>;

/** The JSON Schema editors use (via `# yaml-language-server: $schema=...`). */
export function runbookJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(RunbookSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
