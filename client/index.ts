/**
 * A typed client for frontends, over openapi-fetch, its types generated from
 * openapi/openapi.json (`npm run openapi` keeps them in step). The whole login flow is one call:
 *
 *   const sync = createUserSyncClient(USER_SYNC_URL, {
 *     accessToken: async () => (await supabase.auth.getSession()).data.session?.access_token,
 *   });
 *   const { data, error } = await sync.syncMe(); // data.profile is the user's row
 */
import createClient from 'openapi-fetch';
import type { paths } from './schema.ts';

export type { components, paths } from './schema.ts';

export interface UserSyncClientOptions {
  /** The bearer to send: the user's Supabase access token (or, server side, a service token). */
  accessToken?: () => string | undefined | Promise<string | undefined>;
  fetch?: typeof globalThis.fetch;
}

export function createUserSyncClient(baseUrl: string, options: UserSyncClientOptions = {}) {
  const api = createClient<paths>({ baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  api.use({
    async onRequest({ request }) {
      const token = await options.accessToken?.();
      if (token) request.headers.set('Authorization', `Bearer ${token}`);
      return request;
    },
  });
  return {
    /** The underlying openapi-fetch client, typed for every route. */
    api,
    /** POST /sync/me: make the signed-in user's profile match auth.users, and get it back. */
    syncMe: () => api.POST('/sync/me'),
  };
}

export type UserSyncClient = ReturnType<typeof createUserSyncClient>;
