/**
 * A pull-driven byte stream over an async iterable: the next chunk (the next leaf from R2) is
 * read only when the client has taken the previous one, so memory holds one block at a time no
 * matter how large the file. `done` gets the number of bytes delivered, whether the stream
 * finished, failed or was cancelled by the client.
 *
 * A failure after the status line has gone out cannot become a problem document any more; the
 * stream errors, which cuts the connection so the client sees a short body, never a wrong one.
 */
export function byteStream(
  chunks: AsyncIterable<Uint8Array>,
  done: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  let sent = 0;
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done(sent);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await it.next();
        if (next.done) {
          finish();
          controller.close();
          return;
        }
        sent += next.value.length;
        controller.enqueue(next.value);
      } catch (err) {
        console.error("gateway stream failed after the response started", err);
        finish();
        controller.error(err);
      }
    },
    async cancel() {
      finish();
      await it.return?.();
    },
  });
}

/** Prepends an already-read chunk to the rest of an iterator. */
export async function* prepend(
  first: Uint8Array | undefined,
  rest: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (first && first.length > 0) yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}
