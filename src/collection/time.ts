// Time helpers shared by collection creation and upgrades.

/**
 * Collection creation time of a new collection: the most recent local 04:00
 * at or before `now`, in seconds. Like rslib, the local UTC offset in effect
 * at `now` is applied as a fixed offset (no DST change between 04:00 and now).
 */
export function creationTimeSecs(now: Date): number {
  const nowSecs = Math.floor(now.getTime() / 1000);
  const offsetSecs = -now.getTimezoneOffset() * 60; // east of UTC is positive
  const localSecs = nowSecs + offsetSecs;
  const localMidnight = Math.floor(localSecs / 86400) * 86400;
  let fourAm = localMidnight + 4 * 3600 - offsetSecs;
  if (fourAm > nowSecs) fourAm -= 86400;
  return fourAm;
}

/** Current time in whole seconds. */
export function nowSecs(): number {
  return Math.floor(Date.now() / 1000);
}
