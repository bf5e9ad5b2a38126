/** CSV for the CLI's `missing --format csv`, safe to open in a spreadsheet. */

/**
 * RFC 4180: quote a field holding a comma, a quote or a line break, doubling its quotes. A field
 * a spreadsheet would take for a formula (leading =, +, -, @, tab or carriage return: an e-mail
 * address is the user's to choose) gets a leading ' so that it stays text.
 */
export const csvField = (value: string | null) => {
  const raw = value ?? '';
  const text = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};
