/** Embedded mode (PGlite): start-up and single syncs against PGlite alone. */
import { embeddedStartup } from './lib/embedded-startup.ts';
import { embeddedSync } from './lib/embedded-sync.ts';
import type { Section } from './lib/section.ts';

export const sections: Record<string, Section> = {
  embedded: async (context) => [await embeddedStartup(context), await embeddedSync(context)],
};
