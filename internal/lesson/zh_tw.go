package lesson

import (
	"fmt"
	"regexp"
)

// taiwanMandarin are the demo's words in Traditional Chinese as written
// in Taiwan, with the terms of docs/glossary.zh-TW.md: 請求, 連線, 訊號,
// 行程, 結束狀態, 時限, 日誌, 建置, 執行檔, 用戶端; job, worker, handler,
// listener and socket stay in English. The commands and what the programs
// print are not translated.
var taiwanMandarin = catalogue{
	messages: map[string]string{
		// --help
		`Usage: demo.sh [--fast] [--no-pause] [--step N] [--lang LANG] [--json FILE] [--help]

Runs the graceful-shutdown lesson live, one step per example server, each
step numbered as its lesson:
`: `用法：demo.sh [--fast] [--no-pause] [--step N] [--lang LANG] [--json FILE] [--help]

現場示範 graceful shutdown 這堂課：每個範例伺服器一步，
步驟編號和課程編號相同：
`,
		`Each step prints the commands it runs, then a verdict table and a timeline.

Options:
  --fast       short timings (GET / takes 2s, a job 500ms, shutdown budget 4s;
               300ms a request in step 4) instead of the blog post's 5 s
               (1s a request in step 4); a shorter class
               and the tests
  --no-pause   do not wait for Enter between steps (also the case when
               stdin is not a terminal)
  --step N     run step N only (%s)
  --lang LANG  the language of the narration, the tables and the last line:
               en or zh-TW (Traditional Chinese, Taiwan); by default zh-TW
               when the locale (LC_ALL, else LC_MESSAGES, else LANG) is
               zh_TW.*, else en. The commands and the programs' own output
               stay as they are
  --json FILE  also write every verdict to FILE, as JSON
  -h, --help   show this help

Environment:
  PORT         port on 127.0.0.1 for the servers (default 8080); must be free
  NO_COLOR     set it (non-empty) to turn colours off; they are only ever
               used when stdout is a terminal

Exit status: 0 every outcome matched the lesson; 1 some did not (the last
line names them); 2 the demo could not run (bad option, missing tool, busy
port, build failure, a server that never started or never stopped);
130 or 143 when interrupted by SIGINT or SIGTERM.
`: `每一步先印出它要執行的指令，再印出判定表和時間軸。

選項：
  --fast       用短的時間（GET / 要 2s、一個 job 500ms、關閉時限 4s；
               第 4 步每個請求 300ms），不用文章的 5 秒
               （第 4 步每個請求 1s）；上課想快一點、跑測試時用
  --no-pause   兩步之間不等你按 Enter（stdin 不是終端機時也一樣）
  --step N     只執行第 N 步（%s）
  --lang LANG  旁白、表格和最後一行的語言：en 或 zh-TW（台灣繁體中文）。
               預設看 locale（LC_ALL，沒有就看 LC_MESSAGES，再沒有就看
               LANG）：zh_TW.* 時用 zh-TW，否則用 en。指令和程式自己
               印出的內容一律不翻譯
  --json FILE  另外把每一列判定以 JSON 寫進 FILE
  -h, --help   顯示這份說明

環境變數：
  PORT         伺服器在 127.0.0.1 上使用的連接埠（預設 8080），必須沒被占用
  NO_COLOR     設成非空值就不用顏色；只有 stdout 是終端機時才會用顏色

結束狀態：0 每個結果都和課程相符；1 有結果不符（最後一行會列出）；
2 demo 無法執行（選項錯誤、缺少工具、連接埠被占用、建置失敗、
伺服器沒有啟動或沒有停止）；被 SIGINT 或 SIGTERM 中斷時為 130 或 143。
`,
		"%s or %s":             "%s 或 %s",
		"step %d left out: %s": "略過第 %d 步：%s",

		// Between the steps.
		"Press Enter to %s (Ctrl+C quits)":               "按 Enter %s（Ctrl+C 離開）",
		"go on to step %d, %s":                           "繼續第 %d 步：%s",
		"run step %d":                                    "執行第 %d 步",
		"Step %d: %s":                                    "第 %d 步：%s",
		"The commands, in order:":                        "依序執行的指令：",
		"Finished in %s s.":                              "全部跑完，共 %s 秒。",
		"RESULT: PASS %d/%d outcomes matched the lesson": "結果：通過，%d/%d 個結果都和課程相符",
		"RESULT: FAIL %d/%d outcomes matched the lesson; mismatches: %s": "結果：失敗，%d/%d 個結果和課程相符；不符的是：%s",

		// The build.
		"Build the program":  "建置程式",
		"Build the programs": "建置程式",
		"We build binaries and run those, not `go run`: a signal sent to `go run`": "我們先建置執行檔再執行，不用 `go run`：送給 `go run` 的訊號",
		"reaches the go tool, which dies and leaves the real server running.":      "只會送到 go 這個工具，它結束了，真正的伺服器卻還在跑。",
		"Requests go to %s only. Timings: GET / takes %s, shutdown budget %s.":     "請求只送到 %s。時間：GET / 要 %s，關閉時限 %s。",

		// Steps 1 to 3.
		"%s &        # %d times, %s apart":             "%s &        # 共 %d 次，每次間隔 %s",
		"%s         # %d times":                        "%s         # 共 %d 次",
		"kill %s <server pid>    # once %s are logged": "kill %s <server pid>    # 等日誌出現 %s 之後",
		"%s          # once the port is closed":        "%s          # 等連接埠關閉之後",
		"%d x '%s'":                                    "%d 行 '%s'",
		"%s and %s":                                    "%s 和 %s",
		"listening, PID %d":                            "開始監聽，PID %d",
		"the log shows %s: signal now":                 "日誌出現了 %s：現在送訊號",
		"the port is closed; one more request":         "連接埠已經關閉；再送一個請求",
		"waiting for the server to exit":               "等伺服器結束",
		"The server log (%s):":                         "伺服器的日誌（%s）：",
		"Each job's fate, from that log:":              "從日誌看每個 job 的結局：",
		"(none logged)":                                "（日誌裡沒有）",

		// Step 4.
		"%s   # %d clients, %s apart, each again as soon as it has an answer":                       "%s   # %d 個用戶端，每個間隔 %s 開始，一拿到回應就再送",
		"%s   # once each client has %d answers from v1":                                            "%s   # 等每個用戶端都從 v1 拿到 %d 個回應之後",
		"cat %s    # once 'Upgrade done' is logged and v1 has exited: v2's PID":                     "cat %s    # 等日誌出現 'Upgrade done' 而且 v1 結束之後：v2 的 PID",
		"kill -TERM <v2 pid>       # once each client has %d answers from v2, and the load stopped": "kill -TERM <v2 pid>       # 等每個用戶端都從 v2 拿到 %d 個回應、負載也停了之後",
		"%s &   # client%d, again and again":                                                        "%s &   # client%d，一次又一次",
		"each client has %d answers from v1. Install v2 where v1 runs from: cp onto":                "每個用戶端都從 v1 拿到 %d 個回應了。把 v2 裝到 v1 執行的位置：直接 cp",
		"a running binary fails (text file busy), so copy it beside and mv it over.":                "蓋掉執行中的執行檔會失敗（text file busy），所以先複製到旁邊，再用 mv 蓋過去。",
		"mv swaps the name; v1 keeps running its own file, which no name points to":                 "mv 只換掉檔名；v1 繼續執行它自己的那個檔案，只是已經沒有檔名指向它",
		"SIGHUP: v1 starts ./%s, v2 now, and hands it the socket":                                   "SIGHUP：v1 啟動 ./%s（現在是 v2），把 socket 交給它",
		"the upgrade failed, v1 still serves: %s":                                                   "升級失敗，v1 繼續服務：%s",
		"'Upgrade done' is logged: v2 serves; v1 finishes its requests, then exits":                 "日誌出現 'Upgrade done'：v2 開始服務；v1 把自己的請求做完就結束",
		"v1 (PID %d) has exited; the PID file names the process that serves now":                    "v1（PID %d）已經結束；PID 檔記著現在服務的行程",
		"not every client got %d answers from v2 within 15 s":                                       "不是每個用戶端都在 15 秒內從 v2 拿到 %d 個回應",
		"stop the load: each client finishes the request it has in flight":                          "停止負載：每個用戶端把處理中的請求做完",
		"stop v2 as 02-graceful was stopped; it was handed to the demo when v1 exited":              "像停止 02-graceful 那樣停止 v2；v1 結束時，v2 就交給 demo 接管了",
		"(no PID)":                    "（沒有 PID）",
		"stop v1, which still serves": "停止還在服務的 v1",
		"The server log (%s; v1 and v2 write to the same one):":        "伺服器的日誌（%s；v1 和 v2 寫在同一份）：",
		"(left out: %d x \"GET / started\" and %d [GIN] access lines)": "（省略了 %d 行 \"GET / started\" 和 %d 行 [GIN] 存取日誌）",

		// Step 5.
		"cat haproxy.cfg            # written by the demo: %d servers, option httpchk GET /readyz":      "cat haproxy.cfg            # demo 寫的設定：%d 個伺服器，option httpchk GET /readyz",
		"%s   # %d clients through HAProxy, again and again":                                            "%s   # %d 個用戶端經過 HAProxy，一次又一次",
		"kill -TERM <app1 pid>      # wait until it exits, start it again, wait until HAProxy says UP;": "kill -TERM <app1 pid>      # 等它結束，重新啟動，等 HAProxy 回報 UP；",
		"                           # then app2, then app3 (HAProxy's state from its runtime API)":      "                           # 接著 app2，再來 app3（狀態來自 HAProxy 的 runtime API）",
		"kill -TERM <each pid>      # once the load stopped; HAProxy too":                               "kill -TERM <each pid>      # 等負載停了之後；HAProxy 也一樣",
		"listening on %s, PID %d":                                    "在 %s 監聽，PID %d",
		"HAProxy (PID %d) reports app1, app2 and app3 UP":            "HAProxy（PID %d）回報 app1、app2 和 app3 都是 UP",
		"every instance has answered %d requests":                    "每個實例都回應了 %d 個請求",
		"app%d: SIGTERM; HAProxy's runtime API says when it is DOWN": "app%d：SIGTERM；HAProxy 的 runtime API 會告訴我們它何時變成 DOWN",
		"app%d: DOWN at +%s s, %s at +%s s, the new one UP at +%s s": "app%d：+%s 秒時 DOWN，+%[4]s 秒時結束（%[3]s），新的在 +%[5]s 秒時 UP",
		"stop the instances and HAProxy":                             "停止所有實例和 HAProxy",

		// Step 6.
		"the stream":                                                             "串流",
		"the socket, once curl printed an event":                                 "socket，等 curl 印出一個事件之後",
		"the request, once wsclient printed a message":                           "請求，等 wsclient 印出一則訊息之後",
		"once 'GET / started' is logged":                                         "等日誌出現 'GET / started' 之後",
		"curl prints each event as it comes: the stream is open. Now the socket": "curl 每收到一個事件就印出來：串流開著。接著開 socket",
		"wsclient prints each message: the socket is open. Now a slow request":   "wsclient 印出每則訊息：socket 開著。接著送一個慢的請求",
		"the log shows 'GET / started': signal now":                              "日誌出現 'GET / started'：現在送訊號",
		"curl -N %s, %s after SIGTERM":                                           "SIGTERM 之後 %[2]s，curl -N 結束（%[1]s）",
		"wsclient %s, %s after SIGTERM":                                          "SIGTERM 之後 %[2]s，wsclient 結束（%[1]s）",
		"the request got %s, %s s after SIGTERM; waiting for the server to exit": "請求在 SIGTERM 之後 %[2]s 秒拿到 %[1]s；等伺服器結束",
		"open http://%s/live in a browser to watch the stop as a page sees it":   "用瀏覽器打開 http://%s/live，看網頁怎麼經歷這次關閉",
		"What curl -N printed:":                                                  "curl -N 印出的內容：",
		"What ./wsclient printed:":                                               "./wsclient 印出的內容：",

		// Step 7.
		"kill -KILL <server pid>    # once %d x 'started (attempt 1)' are logged": "kill -KILL <server pid>    # 等日誌出現 %d 行 'started (attempt 1)' 之後",
		"%s    # the same jobs.db":                                      "%s    # 同一個 jobs.db",
		"%s      # for each job, once all are done":                     "%s      # 全部做完之後，每個 job 問一次",
		"the log shows %d jobs running, the others queued: kill -9 now": "日誌顯示 %d 個 job 在跑，其他的在佇列中：現在 kill -9",
		"%s; start it again on the same jobs.db":                        "伺服器%s；用同一個 jobs.db 重新啟動",
		"the log shows %d jobs done: ask the server about each":         "日誌顯示 %d 個 job 都做完了：逐一問伺服器",
		"the first process, killed":                                     "第一個行程，被 kill",
		"the second process, on the same jobs.db":                       "第二個行程，用同一個 jobs.db",

		// Step 8.
		"DATABASE_URL=postgres://...   # a throwaway PostgreSQL (initdb, pg_ctl), or yours": "DATABASE_URL=postgres://...   # 用完即丟的 PostgreSQL（initdb、pg_ctl），或你自己的",
		"%s   # and app2, app3":                    "%s   # app2、app3 也一樣",
		"curl -X POST http://%s/jobs   # %d times": "curl -X POST http://%s/jobs   # 共 %d 次",
		"kill -TERM <each other app's pid>   # one at a time: wait until it exits, start it again": "kill -TERM <each other app's pid>   # 一次一個：等它結束，再重新啟動",
		"curl http://<a live app>/jobs/N     # for each job, once all are done":                    "curl http://<a live app>/jobs/N     # 全部做完之後，每個 job 問一次",
		"%s listening on %s, PID %d": "%s 在 %s 監聽，PID %d",
		"%s runs job %s":             "%s 正在執行 job %s",
		"kill -9 %s":                 "對 %s 送 kill -9",
		"%s: SIGTERM; River's soft stop lets a running job finish": "%s：SIGTERM；River 的 soft stop 讓執行中的 job 做完",
		"%s: %s; start it again":                                   "%s：%s；重新啟動",
		"job %s is still 'running' in PostgreSQL: River's rescuer takes it back after -rescue-after, at its next sweep (every 30 s)": "job %s 在 PostgreSQL 裡還是 'running'：River 的 rescuer 會在 -rescue-after 之後的下一次巡查（每 30 秒）把它拿回來",
		"River's rescuer took job %s back %s s after the kill":                                                                       "River 的 rescuer 在 kill 之後 %[2]s 秒把 job %[1]s 拿回來",
		"PostgreSQL: DATABASE_URL's server, a new database on it":                                                                    "PostgreSQL：用 DATABASE_URL 的伺服器，在上面建一個新的資料庫",
		"PostgreSQL: a throwaway cluster (initdb, pg_ctl) in %s, on 127.0.0.1:%d":                                                    "PostgreSQL：在 %s 建一個用完即丟的 cluster（initdb、pg_ctl），在 127.0.0.1:%d",
		"the logs show a job running in each instance":                                                                               "日誌顯示每個實例都在執行一個 job",

		// Step 9.
		"the health watch":                                                             "health watch",
		"the stream, once the watch printed SERVING":                                   "串流，等 watch 印出 SERVING 之後",
		"the call, once the stream printed a number":                                   "呼叫，等串流印出一個數字之後",
		"once 'Slow started' is logged":                                                "等日誌出現 'Slow started' 之後",
		"grpcurl prints each status the health service sends: SERVING. Now the stream": "grpcurl 印出 health 服務送來的每個狀態：SERVING。接著開串流",
		"grpcurl prints each number: the stream is open. Now a slow call":              "grpcurl 印出每個數字：串流開著。接著送一個慢呼叫",
		"the log shows 'Slow started': signal now":                                     "日誌出現 'Slow started'：現在送訊號",
		"the watch printed NOT_SERVING, %s after SIGTERM":                              "SIGTERM 之後 %s，watch 印出 NOT_SERVING",
		"the stream's grpcurl %s, %s s after SIGTERM":                                  "SIGTERM 之後 %[2]s 秒，串流的 grpcurl 結束（%[1]s）",
		"the call's grpcurl %s, %s s after SIGTERM; waiting for the server to exit":    "SIGTERM 之後 %[2]s 秒，呼叫的 grpcurl 結束（%[1]s）；等伺服器結束",
		"What the watch's grpcurl printed:":                                            "watch 的 grpcurl 印出的內容：",
		"What the stream's grpcurl printed:":                                           "串流的 grpcurl 印出的內容：",
		"What the call's grpcurl printed:":                                             "呼叫的 grpcurl 印出的內容：",

		// The verdict table and the timeline (internal/report).
		"Verdict (%s):":      "判定表（%s）：",
		"program":            "程式",
		"request":            "項目",
		"what happened":      "實際結果",
		"the lesson expects": "課程預期",
		"Timeline":           "時間軸",
		" (0 = the first request; %s| = %s sent at %s s%s; one column = %d ms)": "（0 = 第一個請求；%s| = %[3]s 秒送出 %[2]s%[4]s；一欄 = %[5]d ms）",
		"%s s": "%s 秒",
		"= in flight or running  . queued  o answered/done  X failed  - server up":                                                    "= 處理中或執行中  . 在佇列中  o 已回應/完成  X 失敗  - 伺服器運作中",
		"1 2 in flight, answered by v1 or v2  o answered/exit 0  X failed  - server up":                                               "1 2 處理中，由 v1 或 v2 回應  o 已回應/結束狀態 0  X 失敗  - 伺服器運作中",
		"= open or in flight  o ended cleanly/answered/exit 0  X cut or failed  - server up":                                          "= 開著或處理中  o 正常結束/已回應/結束狀態 0  X 被中斷或失敗  - 伺服器運作中",
		"= in flight  o answered/exit 0  X failed  - instance up  D HAProxy has it DOWN":                                              "= 處理中  o 已回應/結束狀態 0  X 失敗  - 實例運作中  D HAProxy 標為 DOWN",
		"= open or in flight  ~ NOT_SERVING  d drain  o ended with the server's status/answered/exit 0  X cut or failed  - server up": "= 開著或處理中  ~ NOT_SERVING  d 排空  o 以伺服器的狀態結束/已回應/結束狀態 0  X 被中斷或失敗  - 伺服器運作中",
		"= running  . queued  ~ 'running' in PostgreSQL until River's rescuer  o done  X killed  - server up":                         "= 執行中  . 在佇列中  ~ 在 PostgreSQL 裡是 'running'，直到 River 的 rescuer 接手  o 完成  X 被 kill  - 伺服器運作中",
		"= running  . queued  ~ held by a dead worker's lease  o done  X killed  - server up":                                         "= 執行中  . 在佇列中  ~ 被死掉的 worker 的租約占住  o 完成  X 被 kill  - 伺服器運作中",
	},
	phrases: phrases(
		// What curl and the programs print stays as it is.
		`curl: \(\d+\) .*`, "${0}",
		`\d{3} [A-Z].*`, "${0}",
		`close \d+ .*`, "${0}",
		`(SERVING|NOT_SERVING), .*`, "${0}",
		`[A-Z][a-z]+: [a-z].*`, "${0}",
		`"Welcome.*`, "${0}",
		// Servers and processes.
		`exit (-?\d+)`, "結束狀態 ${1}",
		`killed by (SIG\w+)`, "因 ${1} 而終止",
		`hung, killed`, "卡住，被強制終止",
		`exit (-?\d+) at ([\d.]+) s`, "${2} 秒時結束，結束狀態 ${1}",
		`killed by (SIG\w+) at ([\d.]+) s`, "${2} 秒時因 ${1} 而終止",
		`did not exit`, "沒有結束",
		`never served`, "從未提供服務",
		`exited on SIGTERM`, "SIGTERM 後結束",
		`exited before SIGTERM`, "在 SIGTERM 之前就結束了",
		// Requests and jobs.
		`(\d{3}) after ([\d.]+) s`, "${2} 秒後回 ${1}",
		`refused after ([\d.]+) s`, "${1} 秒後被拒絕",
		`empty reply after ([\d.]+) s`, "${1} 秒後拿到空回應",
		`curl error (\d+) after ([\d.]+) s`, "${2} 秒後 curl 出錯（${1}）",
		`refused`, "被拒絕",
		`empty reply`, "空回應",
		`not accepted`, "沒有被接受",
		`done ([\d.]+) s after queued`, "進佇列 ${1} 秒後完成",
		`abandoned ([\d.]+) s after queued`, "進佇列 ${1} 秒後被放棄",
		`job (\d+) done`, "job ${1} 完成",
		`job (\d+) abandoned: (.*)`, "job ${1} 被放棄：${2}",
		`job (\d+) running`, "job ${1} 執行中",
		`job (\d+) queued`, "job ${1} 在佇列中",
		`job (\d+): no fate in the log`, "job ${1}：日誌裡沒有結局",
		`done`, "完成",
		`abandoned`, "被放棄",
		`(\d+) attempts?`, "執行 ${1} 次",
		`(\d+) effects?`, "效果 ${1} 次",
		// Step 4.
		`0 failed, all answered 200`, "0 個失敗，全部回 200",
		`(\d+) of (\d+) failed: (.*)`, "${2} 個中有 ${1} 個失敗：${3}",
		`no request was answered`, "沒有任何請求得到回應",
		`answers from (v\d), the old PID`, "由 ${1} 回應，是舊行程的 PID",
		`answers from (v\d), the new PID`, "由 ${1} 回應，是新行程的 PID",
		`answers from (v\d), no old PID`, "由 ${1} 回應，卻沒有舊行程的 PID",
		`answers from (v\d), no new PID`, "由 ${1} 回應，卻沒有新行程的 PID",
		`answers from (v\d), PIDs (.*)`, "由 ${1} 回應，PID：${2}",
		`no answer from (v\d)`, "沒有來自 ${1} 的回應",
		`each saw v1, then v2`, "每個都先看到 v1，再看到 v2",
		`(client\d+) saw: no answer`, "${1} 沒有拿到回應",
		`(client\d+) saw: (.*)`, "${1} 看到：${2}",
		`(\d+) x v1, (\d+) x v2, (\d+) failed`, "v1 ${1} 次、v2 ${2} 次、失敗 ${3} 次",
		`v1, PID (\d+): exit (-?\d+) at ([\d.]+) s`, "v1，PID ${1}：${3} 秒時結束，結束狀態 ${2}",
		`v2 never served`, "v2 從未提供服務",
		`v2, PID (\d+): serving at ([\d.]+) s, gone at ([\d.]+) s`, "v2，PID ${1}：${2} 秒開始服務，${3} 秒結束",
		// Step 5.
		`DOWN before it stopped`, "停止前就 DOWN",
		`DOWN after it stopped`, "停止後才 DOWN",
		`never DOWN`, "從未 DOWN",
		`never UP`, "從未 UP",
		`the new one exit (-?\d+)`, "新的結束狀態 ${1}",
		`the new one killed by (SIG\w+)`, "新的因 ${1} 而終止",
		`(\d+) \(HAProxy's show stat\)`, "${1}（HAProxy 的 show stat）",
		`(\d+) answered, (\d+) failed`, "回應 ${1} 個，失敗 ${2} 個",
		`exit ([\d.]+)`, "結束 ${1}",
		`exit never`, "從未結束",
		`(SIGTERM|DOWN|UP) never`, "從未 ${1}",
		`(app\d+)'s (SIG\w+)`, "${1} 的 ${2}",
		`answered (\d+)`, "回應 ${1} 個",
		`the new one (\d+)`, "新的 ${1} 個",
		// Step 6.
		`event: shutdown, curl exit 0`, "event: shutdown，curl 結束狀態 0",
		`ended after (.*), curl exit (\d+)`, "${1} 之後結束，curl 結束狀態 ${2}",
		`cut after (.*), curl exit (\d+)`, "${1} 之後被中斷，curl 結束狀態 ${2}",
		`no event`, "沒有事件",
		`no close`, "沒有 close",
		`ended (\d+) ms after SIGTERM`, "SIGTERM 之後 ${1} ms 結束",
		`closed (\d+) ms after SIGTERM`, "SIGTERM 之後 ${1} ms 關閉",
		`cut (\d+) ms after SIGTERM`, "SIGTERM 之後 ${1} ms 被中斷",
		`exit (-?\d+) at ([\d.]+) s, ([\d.]+) s after SIGTERM`, "${2} 秒時結束（SIGTERM 之後 ${3} 秒），結束狀態 ${1}",
		// Step 8.
		`job (\d+): not accepted`, "job ${1}：沒有被接受",
		`then exit (-?\d+)`, "接著結束狀態 ${1}",
		`then killed by (SIG\w+)`, "接著因 ${1} 而終止",
		// Step 9.
		`NOT_SERVING (\d+ ms) after SIGTERM, ended ([\d.]+) s after`, "SIGTERM 之後 ${1} NOT_SERVING，${2} 秒後結束",
		`calls still taken for ([\d.]+) s`, "還繼續接受呼叫 ${1} 秒",
		`ended ([\d.]+) s after SIGTERM`, "SIGTERM 之後 ${1} 秒結束",
		`answered ([\d.]+) s after SIGTERM`, "SIGTERM 之後 ${1} 秒拿到回應",
		`(\S+) ([\d.]+) s after SIGTERM`, "SIGTERM 之後 ${2} 秒：${1}",
		`ended`, "結束",
		`closed`, "關閉",
		`cut`, "被中斷",
	),
	labels: map[string]string{
		"server":   "伺服器",
		"server1":  "伺服器1",
		"server2":  "伺服器2",
		"late":     "遲到請求",
		"late-job": "遲到 job",
		"requests": "請求",
		"request":  "請求",
		"clients":  "用戶端",
		"retries":  "重試",
		"old":      "舊行程",
		"new":      "新行程",
		"stream":   "串流",
		"drain":    "排空",
		"killed":   "被 kill",
		"stopped1": "停止1",
		"stopped2": "停止2",
		"call":     "呼叫",
	},
	steps: map[string]StepWords{
		"01-basic": {
			Title:   "01-basic，沒有處理訊號，用 SIGINT（Ctrl+C）停止",
			Summary: []string{"請求處理中時收到 SIGINT（Ctrl+C）：請求失敗"},
			Intro: func(t Timings) []string {
				return []string{
					fmt.Sprintf("三個 GET / 請求（每個要 %s），每隔 %s 送出一個。等日誌顯示", t.Delay, t.Stagger),
					"三個都進了 handler，伺服器就收到 SIGINT，也就是按 Ctrl+C 送出的訊號。",
					"01-basic 沒有攔截它：行程當場終止，每個處理中的請求都拿到空回應。",
					"訊號之後送出的第 4 個請求會被拒絕。",
				}
			},
		},
		"02-graceful": {
			Title:   "02-graceful，用 SIGTERM 停止（kill、docker stop、Kubernetes）",
			Summary: []string{"收到 SIGTERM（kill、docker stop、Kubernetes）：請求都完成"},
			Intro: func(t Timings) []string {
				return []string{
					"一樣是三個請求。這次伺服器收到的是 SIGTERM，也就是 `kill PID`、",
					"`docker stop` 和 Kubernetes 送出的訊號。02-graceful 會攔截它：立刻關閉",
					fmt.Sprintf("listener（第 4 個請求會被拒絕），再給三個請求最多 -timeout %s 的時限。", t.Timeout),
					"每個請求都拿到回應，行程正常結束（結束狀態 0）。",
				}
			},
		},
		"03-workers": {
			Title:   "03-workers，請求加上背景 job，用 SIGINT 停止",
			Summary: []string{"請求和 job 處理中時收到 SIGINT：全部完成"},
			Intro: func(t Timings) []string {
				return []string{
					"先送兩個 GET / 請求，再送四個 POST /jobs：每個 job 都立刻拿到 202，",
					fmt.Sprintf("由 2 個 worker 執行（每個 %s），所以兩個在跑、兩個在佇列中等。", t.Work),
					"接著送出 SIGINT（Ctrl+C）。03-workers 不再接受新的 job（遲到的",
					"POST /jobs 會被拒絕），先讓請求做完，再讓 worker 把每個已經接受的",
					"job 做完：每個 job 最後都記錄 'job N done'，行程正常結束（結束狀態 0）。",
				}
			},
		},
		"04-zero-downtime": {
			Title: "04-zero-downtime，在負載下用 SIGHUP 從 v1 升級到 v2",
			Summary: []string{"4 個用戶端持續送請求時，用 SIGHUP 從 v1 升級到 v2：",
				"它把 socket 交接出去，沒有任何請求失敗"},
			Intro: func(t Timings) []string {
				return []string{
					"02-graceful 會把請求做完，但在新行程開始監聽之前，用戶端都會被拒絕。",
					"04-zero-downtime 則把監聽中的 socket 交給新的執行檔。先由 v1 服務；",
					fmt.Sprintf("%d 個用戶端一個接一個地送 GET /（這裡每個要 %s）。負載進行到一半，", 4, t.UpDelay),
					"v2 被裝到 v1 的路徑上，v1 收到 SIGHUP：它在同一個 socket 上啟動 v2",
					"當子行程，等 v2 準備好，就把自己的請求做完，正常結束（結束狀態 0）。",
					"每個請求都拿到 200，每個用戶端看到的 X-Version 標頭都從 v1 變成 v2。",
					"最後用 SIGTERM 停止 v2，就像停止 02 那樣。",
				}
			},
		},
		"05-load-balancer": {
			Title: "05-load-balancer，在 HAProxy 後面 rolling restart",
			Summary: []string{"3 個實例在 HAProxy 後面執行，4 個用戶端透過它送請求時",
				"逐一重新啟動：沒有任何請求失敗",
				"（需要 haproxy：沒有的話，整個 demo 會略過這一步並說明；",
				"使用 PORT 和它後面的 3 個連接埠）"},
			Intro: func(t Timings) []string {
				return []string{
					"正式環境裡，好幾個實例放在負載平衡器後面，部署時逐一重新啟動。",
					"HAProxy 要等健康檢查失敗，才知道某個實例要走了：02-graceful 一收到",
					"訊號就關閉 listener，HAProxy 在這段期間送過去的請求都會被拒絕。",
					"05-load-balancer 從收到訊號起，/readyz 就回 503，並在排空延遲",
					fmt.Sprintf("（-drain-delay %s）內繼續服務：HAProxy 會在它停止接受連線之前", RollingDrainDelay(t)),
					"把它移出（DOWN）。每個請求都拿到 200，HAProxy 也一次都不必重試。",
				}
			},
		},
		"06-streaming": {
			Title: "06-streaming，開著串流、WebSocket 和一個請求時用 SIGTERM 停止",
			Summary: []string{"開著 SSE 串流（curl -N）、WebSocket 和一個請求時收到",
				"SIGTERM：串流和 socket 立刻結束，請求做完，行程隨即",
				"正常結束"},
			Intro: func(t Timings) []string {
				return []string{
					"Server-Sent Events 和 WebSocket 在頁面開著的期間一直保持連線。",
					"Shutdown 會像等任何請求一樣等串流，直到時限用完；WebSocket 的連線",
					"已經被 hijack，Shutdown 根本不管它。06-streaming 用",
					"srv.RegisterOnShutdown 註冊一個 hook：收到訊號時，串流收到最後一個",
					"`event: shutdown` 就結束，socket 收到代碼 1001（going away）的 close",
					fmt.Sprintf("frame，時限（%s）就留給處理中的請求（GET / 要 %s）：它拿到 200，", t.Timeout, t.Delay),
					"行程一等它做完就正常結束（結束狀態 0）。",
					"串流的用戶端是 curl -N。WebSocket 的用戶端是從 scripts/wsclient 建置的",
					"./wsclient：curl 不會說 WebSocket，Debian 也沒有這個 lab 採用的用戶端，",
					"所以它是用 coder/websocket（伺服器用的同一個函式庫）寫的幾行 Go，",
					"像瀏覽器一樣印出每則訊息和關閉。",
				}
			},
		},
		"07-durable-jobs": {
			Title: "07-durable-jobs，job 執行到一半時 kill -9，再重新啟動",
			Summary: []string{"job 執行中收到 kill -9，再用同一個 SQLite 檔案重新啟動：",
				"每個 job 都完成，效果只發生一次"},
			Intro: func(t Timings) []string {
				return []string{
					fmt.Sprintf("四個 POST /jobs，每個都先寫進 jobs.db（SQLite）才回 202；%d 個", 2),
					fmt.Sprintf("worker 各拿一個 job（每個 %s），租約 %s，所以兩個在跑、兩個在等。", DurableWork(t), DurableLease(t)),
					"接著 kill -9：沒有程式攔得住它，03-workers 會把四個 job 全部弄丟。",
					"用同一個 jobs.db 重新啟動後，07 立刻接手佇列中的兩個 job，",
					"等租約到期就救回原本在跑的兩個，再跑一次，",
					"而且每個 job 的效果都只套用一次。",
				}
			},
		},
		"08-river": {
			Title: "08-river，River 上的三個實例：kill -9 和 rolling restart",
			Summary: []string{"3 個實例共用 PostgreSQL 裡 River 的佇列；對正在執行",
				"job 1 的那個送 kill -9，其他的 rolling restart：每個 job",
				"都完成，效果只發生一次（需要 PostgreSQL：沒有的話，整個",
				"demo 會略過這一步並說明；使用 PORT 後面的 3 個連接埠）"},
			Intro: func(t Timings) []string {
				return []string{
					"三個實例共用一個佇列：PostgreSQL 裡 River 的資料表。送四個 POST /jobs；",
					fmt.Sprintf("每個實例一次執行一個 job（%s）。對正在執行 job 1 的實例送 kill -9：", RiverWork(t)),
					"它那一列還是 'running'。另外兩個一次一個收到 SIGTERM（River 的 soft stop",
					"讓執行中的 job 做完），再重新啟動。領頭實例裡的 River rescuer 會在 job 1",
					fmt.Sprintf("超過 -rescue-after（%s）之後，在下一次巡查時把它拿回來（每 30 秒一次；", RiverRescueAfter(t)),
					"死掉的 leader 要先等它的任期結束，15 秒）：最多一分鐘。",
					"每個 job 都完成，效果只發生一次。",
				}
			},
		},
		"09-grpc": {
			Title: "09-grpc，開著 health Watch、串流和一個慢呼叫時用 SIGTERM 停止",
			Summary: []string{"開著 health Watch、串流和一個慢呼叫（grpcurl）時收到",
				"SIGTERM：立刻 NOT_SERVING，排空後串流和 Watch 以伺服器的",
				"狀態結束，呼叫拿到回應，行程隨即正常結束"},
			Intro: func(t Timings) []string {
				return []string{
					"同樣的停止流程，換成 grpc-go。收到訊號時，health 服務立刻回報 NOT_SERVING，",
					fmt.Sprintf("伺服器在排空延遲（-drain-delay %s）內繼續接受呼叫：這是 05 的 readiness 排空。", GRPCDrainDelay(t)),
					"接著一個 stream interceptor 以 UNAVAILABLE \"server shutting down\" 結束每個串流，",
					fmt.Sprintf("health Watch 也一樣：這是 06 的 hook。GracefulStop 旁邊有一個 %s 的計時器，", t.Timeout),
					fmt.Sprintf("時間到就呼叫 Stop；GracefulStop 會等處理中的呼叫（Slow 要 %s）：", t.Delay),
					"它拿到回應，行程一等它做完就正常結束（結束狀態 0）。",
					"用戶端是 grpcurl（go.mod 裡的工具），它會印出每則訊息，以及結束呼叫的狀態。",
				}
			},
		},
	},
}

// phrases pairs patterns (matched on the whole text) with their
// rewriting, in order.
func phrases(pairs ...string) []phrase {
	var out []phrase
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, phrase{regexp.MustCompile(`^(?:` + pairs[i] + `)$`), pairs[i+1]})
	}
	return out
}
