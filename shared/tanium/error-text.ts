/**
 * Turns a Tanium error body into the short, safe text used in messages (tanium-api.md 1.7): the
 * server's own words where it has them, visible text of HTML pages, never a credential.
 */

const MAX_TEXT = 1000;
const MAX_HTML_TEXT = 300;

export function looksLikeHtml(text: string, contentType = ''): boolean {
  if (contentType.includes('html')) return true;
  const start = text.trimStart().slice(0, 15).toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html');
}

/** Visible text of an HTML page: tags, scripts and styles removed, whitespace collapsed. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_HTML_TEXT);
}

function itemText(item: unknown): string {
  if (typeof item === 'string') return item;
  if (item && typeof item === 'object') {
    const record = item as Record<string, unknown>;
    for (const key of ['message', 'text', 'description']) {
      const value = record[key];
      if (typeof value === 'string') return value;
    }
  }
  return JSON.stringify(item);
}

/** The text Tanium put in an error body, in the order of preference of the contract. */
export function errorBodyText(body: string, contentType: string): string {
  if (body.trim() === '') return 'Empty response';
  if (looksLikeHtml(body, contentType)) return htmlToText(body) || 'Empty response';
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body.trim();
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const record = parsed as Record<string, unknown>;
    if (typeof record.text === 'string') return record.text;
    if (Array.isArray(record.errors)) return record.errors.map(itemText).join('; ');
    if (typeof record.message === 'string') return record.message;
  }
  if (typeof parsed === 'string') return parsed;
  return JSON.stringify(parsed);
}

/** Shorter secrets are not searched for: every such run of letters in a message would be replaced. */
const MIN_SECRET_LENGTH = 4;

/**
 * The forms a secret takes in a body that echoes it: as is, escaped inside a JSON string, percent-encoded
 * and HTML-escaped. A password with a quote or a backslash is never written as is in JSON.
 */
function secretForms(secret: string): string[] {
  const html = secret
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret), html])];
}

/** Every secret, in each of its forms, replaced with `[redacted]`; the text is not cut. */
export function withoutSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    // Longest first: a form that contains another is replaced whole.
    for (const form of secretForms(secret).sort((a, b) => b.length - a.length)) {
      out = out.split(form).join('[redacted]');
    }
  }
  return out;
}

/** Replaces every secret with `[redacted]` and caps the length at 1000 characters, the ellipsis included. */
export function redact(text: string, secrets: readonly string[]): string {
  const out = withoutSecrets(text, secrets);
  return out.length > MAX_TEXT ? `${out.slice(0, MAX_TEXT - 1)}…` : out;
}

/**
 * The text of an error body for a message (1.7), without secrets: removed from the whole body before
 * the text is extracted and cut (a cut secret would no longer match), and again after, where decoding
 * HTML entities or JSON escapes wrote one out as is.
 */
export function errorText(body: string, contentType: string, secrets: readonly string[]): string {
  return redact(errorBodyText(withoutSecrets(body, secrets), contentType), secrets);
}
