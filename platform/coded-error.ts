/**
 * The shape every Lifeboat error family shares: a stable code, the context that locates the
 * problem, a hint that says what to do, and whether trying again can help. Families
 * (PlatformError, LabError, ReplicationError, ExportError) narrow the code to their own union.
 */
export interface CodedErrorOptions<Code extends string> {
  code: Code;
  message: string;
  context?: Record<string, unknown>;
  hint?: string;
  retryable?: boolean;
  cause?: unknown;
}

export class CodedError<Code extends string> extends Error {
  readonly code: Code;
  readonly context: Record<string, unknown>;
  readonly hint: string;
  readonly retryable: boolean;

  constructor(opts: CodedErrorOptions<Code>) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.context = opts.context ?? {};
    this.hint = opts.hint ?? '';
    this.retryable = opts.retryable ?? false;
  }

  /** For a person: code, message, context and hint. */
  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    return `${this.code}: ${this.message}${where ? ` (${where})` : ''}${this.hint ? `\n  hint: ${this.hint}` : ''}`;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, context: this.context, hint: this.hint };
  }
}
