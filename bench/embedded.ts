/** Embedded mode (PGlite): start-up and single syncs against PGlite alone. (To be written.) */
import type { Section } from './lib/section.ts';

export const sections: Record<string, Section> = {};
