// Secrets never reach a log line, an error message or --print-config. Settings marked secret are masked whole where
// they are printed; this is the net under everything else: a URL or connection string with a password in it can
// arrive from any setting (a hopauth URL, an S3 endpoint, a broker list) or inside a library's error message.

const MASK = "***";

/**
 * `scheme://user:PASSWORD@`: the userinfo's password (the user stays, so operators see which account), up to the
 * last `@` of the authority, as an unencoded `@` in a password is a common mistake.
 */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>]*:)[^\s/?#"'<>]*@/gi;

/**
 * Query or key=value parameters that carry secrets: passwords, tokens, signatures and keys of presigned S3 URLs
 * (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token) and libpq's `password=` in a keyword connection string.
 */
const SECRET_PARAM =
  /(^|[?&;\s"'])((?:[\w.-]*(?:password|passwd|pwd|secret|token|signature|credential|api[_-]?key|access[_-]?key)|sig)=)[^&\s#"']*/gi;

/** `text` with every URL password and secret parameter value replaced by ***; everything else as it was. */
export function maskSecrets(text: string): string {
  if (!text.includes("=") && !text.includes("@")) return text; // the common case: nothing to look for
  return text
    .replace(URL_PASSWORD, `$1${MASK}@`)
    .replace(SECRET_PARAM, `$1$2${MASK}`);
}
