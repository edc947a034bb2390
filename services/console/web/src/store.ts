/**
 * What the screens share while signed in: the caller's cameras, the last results, the hit in
 * the player and the clips chosen for export. Cleared on sign-out; nothing is persisted.
 */

import type { Camera } from "./gen/vigil/v1/cameras_pb";
import type { Hit } from "./hits";
import { hitId } from "./hits";

export interface ResultSet {
  title: string; // what was searched ("" until the first search)
  hits: Hit[];
  noGoodMatch: boolean;
  nextPageToken: string;
  more: ((token: string) => Promise<void>) | null;
  trail?: boolean; // a Follow trail: hits in time order, shown numbered
  photo?: { image: Uint8Array; name: string } | null; // the photo searched, to follow it
}

export const store = {
  cameras: [] as Camera[],
  camerasLoaded: false,
  results: null as ResultSet | null,
  playing: null as Hit | null,
  basket: new Map<string, Hit>(),
  exportResult: null as HTMLElement | null, // the last export's files, shown until sign-out
  jobIds: [] as string[], // ingest jobs looked up this session, newest first
};

export function resetStore(): void {
  store.cameras = [];
  store.camerasLoaded = false;
  store.results = null;
  store.playing = null;
  store.basket.clear();
  store.exportResult = null;
  store.jobIds = [];
}

export function cameraName(cameraId: string): string {
  const cam = store.cameras.find((c) => c.cameraId === cameraId);
  return cam && cam.name && cam.name !== cameraId ? `${cam.name} (${cameraId})` : cameraId;
}

export function inBasket(hit: Hit): boolean {
  return store.basket.has(hitId(hit));
}

export function toggleBasket(hit: Hit): boolean {
  const id = hitId(hit);
  const added = !store.basket.has(id);
  if (added) store.basket.set(id, hit);
  else store.basket.delete(id);
  window.dispatchEvent(new Event("vigil:basket"));
  return added;
}
