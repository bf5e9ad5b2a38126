/**
 * What a before-user-created note keeps to find a user stored under another id, and which listed
 * users it matches (src/sync/deferred-match.ts). The back ends' matching itself is covered by the
 * contract suite.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deferredSyncOf, matchesAmong, type MatchCandidate } from '../src/sync/deferred-match.ts';

const github = { provider: 'github', providers: ['github'] };

describe('deferredSyncOf', () => {
  it('takes the subject from user_metadata.sub, as Auth\'s throwaway user carries it (no identities)', () => {
    const note = deferredSyncOf('u1', { email: 'Octo@Example.com', app_metadata: github, user_metadata: { sub: '42' }, identities: [] });
    expect(note).toEqual({ userId: 'u1', provider: 'github', providerId: '42', email: 'octo@example.com' });
  });

  it('prefers a listed identity of that provider: provider_id, else identity_data.sub, else its id (provider_id in Auth\'s JSON)', () => {
    const identity = (fields: Record<string, unknown>) => ({ provider: 'github', identity_data: {}, ...fields });
    const of = (identities: unknown[]) => deferredSyncOf('u1', { app_metadata: github, user_metadata: { sub: 'meta' }, identities }).providerId;
    expect(of([identity({ provider_id: 'p', identity_data: { sub: 's' }, id: 'i' })])).toBe('p');
    expect(of([identity({ identity_data: { sub: 's' }, id: 'i' })])).toBe('s');
    expect(of([identity({ id: 'i' })])).toBe('i');
    expect(of([{ provider: 'google', id: 'g' }])).toBe('meta');
  });

  it('keeps nothing it cannot use: no provider, no subject, an empty e-mail', () => {
    expect(deferredSyncOf('u1', { email: '', app_metadata: {}, user_metadata: {} })).toEqual({
      userId: 'u1',
      provider: null,
      providerId: null,
      email: null,
    });
  });
});

describe('matchesAmong', () => {
  const notedAt = new Date('2026-01-01T12:00:00Z');
  const note = { userId: randomUUID(), provider: 'github', providerId: '42', email: 'octo@example.com' };
  const user = (id: string, createdAt: string, fields: Partial<MatchCandidate> = {}): MatchCandidate => ({
    id,
    email: null,
    created_at: createdAt,
    deleted_at: null,
    subjects: [],
    ...fields,
  });

  it('identity before e-mail, oldest first; only live users created from 5 s before the note to 10 min after', () => {
    const users = [
      user('by-email', '2026-01-01T12:00:01Z', { email: 'octo@example.com' }),
      user('by-identity', '2026-01-01T12:00:02Z', { subjects: [{ provider: 'github', providerId: '42' }] }),
      user('just-before', '2026-01-01T11:59:56Z', { email: 'octo@example.com' }),
      user('too-old', '2026-01-01T11:59:50Z', { email: 'octo@example.com' }),
      user('too-late', '2026-01-01T12:10:01Z', { email: 'octo@example.com' }),
      user('deleted', '2026-01-01T12:00:01Z', { email: 'octo@example.com', deleted_at: '2026-01-01T12:00:03Z' }),
      user('other-provider', '2026-01-01T12:00:01Z', { subjects: [{ provider: 'gitlab', providerId: '42' }] }),
    ];
    expect(matchesAmong(note, notedAt, users)).toEqual(['by-identity', 'just-before', 'by-email']);
  });
});
