/** The options a call was sent with, which the client mock's types leave out (they name the command only). */
export function sendOptions(call: { args: readonly unknown[] }): unknown {
  return call.args[1];
}
