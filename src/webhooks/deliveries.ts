/**
 * What a webhook delivery does, whoever sent it. Framework free: the route only authenticates
 * and parses, then hands the delivery here.
 *
 * - A Database Webhook on auth.users, or an after-user-created hook: the user is synced from
 *   auth.users as it is now (notify, then read the truth), and the delivery's id is recorded with
 *   that write, never before it (service-state.ts), so a repeat changes nothing and a resend of a
 *   delivery whose sync failed is synced.
 * - A before-user-created hook: the user is not stored yet, so a deferred sync is noted, to be
 *   completed as soon as the user exists. For an OAuth, SSO, ID-token or web3 sign-up the hook's id
 *   is a throwaway (Auth stores the user under a new one), so the note also keeps the identity and
 *   e-mail it will be found by (sync/deferred-match.ts). Supabase Auth fails the signup on any
 *   answer but a 200, so this never fails: if even the note cannot be written, the reconcile finds
 *   the user later.
 * @see docs/supabase-webhooks-and-hooks.md
 */
import { AnonymousUserRefused, ProblemError } from '../errors/problems.ts';
import type { Log } from '../logging.ts';
import { deferredSyncOf, type DeferredSync } from '../sync/deferred-match.ts';
import type { SyncEngine } from '../sync/engine.ts';
import type { ServiceState } from '../sync/service-state.ts';
import { databaseWebhookUserId, type DatabaseWebhook, type WebhookReceipt } from './payloads.ts';

export type Delivery =
  | { kind: 'database'; id: string; event: DatabaseWebhook }
  | {
      kind: 'after-user-created' | 'before-user-created';
      id: string;
      userId: string;
      /** The hook's user JSON: for before-user-created, what else the stored user can be found by. */
      user?: Record<string, unknown>;
    };

/** How long before-user-created may spend noting its deferred sync: well inside Auth's 5 s. */
const DEFER_BUDGET_MS = 1_500;

export class WebhookDeliveries {
  readonly #state: ServiceState;
  readonly #engine: SyncEngine;
  readonly #observe: (kind: string, outcome: string) => void;

  constructor(state: ServiceState, engine: SyncEngine, observe: (kind: string, outcome: string) => void = () => undefined) {
    this.#state = state;
    this.#engine = engine;
    this.#observe = observe;
  }

  async handle(delivery: Delivery, actor: string, log: Log): Promise<WebhookReceipt> {
    const started = performance.now();
    const entry = { deliveryId: delivery.id, kind: delivery.kind };
    try {
      const receipt = await this.#dispatch(delivery, actor, log);
      log.info(
        { ...entry, userId: receipt.userId, outcome: receipt.outcome, action: receipt.action, latencyMs: elapsed(started) },
        'webhook delivery handled',
      );
      this.#observe(delivery.kind, receipt.outcome);
      return receipt;
    } catch (error) {
      const code = error instanceof ProblemError ? error.code : 'internal_error';
      log.warn({ ...entry, outcome: 'failed', code, latencyMs: elapsed(started) }, 'webhook delivery failed');
      this.#observe(delivery.kind, 'failed');
      throw error;
    }
  }

  async #dispatch(delivery: Delivery, actor: string, log: Log): Promise<WebhookReceipt> {
    switch (delivery.kind) {
      case 'before-user-created':
        await this.#defer(deferredSyncOf(delivery.userId, delivery.user ?? {}), log);
        return { received: true, deliveryId: delivery.id, outcome: 'deferred', userId: delivery.userId };
      case 'after-user-created':
        return this.#syncOnce(delivery.id, delivery.kind, delivery.userId, actor);
      case 'database': {
        const { schema, table } = delivery.event;
        if (schema !== 'auth' || table !== 'users') {
          return {
            received: true,
            deliveryId: delivery.id,
            outcome: 'ignored',
            reason: `events on ${schema}.${table} are not handled; only auth.users`,
          };
        }
        const userId = databaseWebhookUserId(delivery.event);
        if (userId === undefined) {
          throw new ProblemError(
            'invalid_request',
            'An auth.users event names its user in record.id (old_record.id for DELETE), as a UUID.',
          );
        }
        return this.#syncOnce(delivery.id, 'database', userId, actor);
      }
    }
  }

  async #syncOnce(deliveryId: string, kind: string, userId: string, actor: string): Promise<WebhookReceipt> {
    const base = { received: true as const, deliveryId, userId };
    const handled = await this.#state.once({ id: deliveryId, kind, userId }, async (profiles) => {
      try {
        const result = await this.#engine.with(profiles).sync(userId, { actor, source: 'webhook' });
        return { ...base, outcome: 'synced' as const, action: result.action };
      } catch (error) {
        // The event named a user that exists nowhere now (created, then deleted before we
        // looked): nothing to do, and nothing to retry.
        if (error instanceof ProblemError && error.code === 'user_not_found') return { ...base, outcome: 'user_not_found' as const };
        // Acknowledged, not refused: the sender did nothing wrong, and a resend would change nothing.
        if (error instanceof AnonymousUserRefused) {
          return { ...base, outcome: 'ignored' as const, reason: 'anonymous users get no profile (SYNC_ANONYMOUS_USERS is off)' };
        }
        throw error;
      }
    });
    return handled === 'duplicate' ? { ...base, outcome: 'duplicate' } : handled;
  }

  async #defer(note: DeferredSync, log: Log): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#state.deferSync(note),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${DEFER_BUDGET_MS} ms`)), DEFER_BUDGET_MS);
        }),
      ]);
    } catch (error) {
      log.warn({ err: error, userId: note.userId }, 'could not note a deferred sync; the reconcile will find the user');
    } finally {
      clearTimeout(timer);
    }
  }
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;
