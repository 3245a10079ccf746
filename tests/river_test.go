package tests

import "time"

// riverRescueWait bounds how long River takes to rescue the job of a
// process that died: -rescue-after, plus the dead leader's term (15 s:
// River's elect interval of 5 s and 10 s of padding) before another
// process leads, plus the rescuer's sweep (every 30 s, not configurable
// through River's public Config), plus the retry (1 s for a first
// attempt) and the scheduler that makes it available (every 5 s), with a
// margin for a busy machine under -race.
const riverRescueWait = 2 * time.Minute
