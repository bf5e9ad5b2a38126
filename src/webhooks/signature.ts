/**
 * Standard Webhooks signatures, as Supabase Auth Hooks send them: `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`, one per secret). Verified over the raw body bytes with the
 * `standardwebhooks` library, against every configured secret (several during a rotation).
 * @see https://www.standardwebhooks.com/
 * @see https://supabase.com/docs/guides/auth/auth-hooks
 */
import { Webhook } from 'standardwebhooks';
import { ProblemError } from '../errors/problems.ts';

/** Supabase's own tolerance, and the Standard Webhooks library's. */
export const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

export type ParsedSecrets = { ok: true; secrets: string[] } | { ok: false; error: string };

/**
 * `WEBHOOK_SECRET`: one secret, or several joined with `|` during a rotation; each as Supabase
 * shows it (`v1,whsec_<base64>`) or bare (`whsec_<base64>`). Normalised to `whsec_<base64>`.
 */
export function parseWebhookSecrets(raw: string): ParsedSecrets {
  const secrets: string[] = [];
  for (const [index, part] of raw.split('|').map((piece) => piece.trim()).entries()) {
    const secret = part.startsWith('v1,') ? part.slice(3) : part;
    const problem = `secret ${index + 1} is not of the form v1,whsec_<base64> (as the Supabase dashboard shows it)`;
    if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) return { ok: false, error: problem };
    try {
      new Webhook(secret);
    } catch {
      return { ok: false, error: problem };
    }
    secrets.push(secret);
  }
  return { ok: true, secrets };
}

export interface SignatureHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

/** The three headers when all are present, else undefined. */
export function signatureHeaders(headers: Record<string, string | string[] | undefined>): SignatureHeaders | undefined {
  const [id, timestamp, signature] = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => headers[name]);
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') return undefined;
  return { id, timestamp, signature };
}

export class SignatureVerifier {
  readonly #webhooks: Webhook[];

  constructor(secrets: readonly string[]) {
    this.#webhooks = secrets.map((secret) => new Webhook(secret));
  }

  get configured(): boolean {
    return this.#webhooks.length > 0;
  }

  /** Throws a 401 problem unless one of the secrets signed exactly these bytes, recently. */
  verify(rawBody: Buffer, headers: SignatureHeaders, nowSeconds = Math.floor(Date.now() / 1000)): void {
    if (!this.configured) {
      throw new ProblemError('webhook_signature_invalid', 'This service has no WEBHOOK_SECRET, so it accepts no signed webhooks.');
    }
    const sent = Number(headers.timestamp);
    if (!/^\d{1,12}$/.test(headers.timestamp) || Math.abs(nowSeconds - sent) > TIMESTAMP_TOLERANCE_SECONDS) {
      throw new ProblemError(
        'webhook_timestamp_invalid',
        `webhook-timestamp must be Unix seconds within ${TIMESTAMP_TOLERANCE_SECONDS / 60} minutes of now.`,
      );
    }
    // Several signatures may come space- or comma-separated ("v1,abc v1,def" or "v1,abc,v1,def");
    // the library wants them space-separated.
    const signatures = headers.signature.match(/v\d+,[A-Za-z0-9+/=]+/g)?.join(' ') ?? '';
    const standardHeaders = { 'webhook-id': headers.id, 'webhook-timestamp': headers.timestamp, 'webhook-signature': signatures };
    const verified = this.#webhooks.some((webhook) => {
      try {
        webhook.verify(rawBody, standardHeaders, { jsonParse: false });
        return true;
      } catch {
        return false;
      }
    });
    if (!verified) {
      throw new ProblemError('webhook_signature_invalid', 'No configured WEBHOOK_SECRET signed this body.');
    }
  }
}
