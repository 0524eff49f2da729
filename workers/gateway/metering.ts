import type { CID } from "multiformats/cid";

/**
 * Hook for metering: called once per gateway response with the number of body bytes actually
 * sent (0 for HEAD and 304; for streams, counted as the client reads, so an aborted download
 * reports what was delivered) and the CID the request named. It does nothing yet; billing will
 * turn it into a usage event on the serving account.
 */
export function onServed(bytes: number, cid: CID): void {
  void bytes;
  void cid;
}
