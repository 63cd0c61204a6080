"""Display labels in English and Chinese for the domain's keys and the plots' words.

Keys (stage, pool, exit reason, outcome, KPI, unit names) never change with the language:
tables, files and the command line keep them in English. Only the text a reader sees is
translated, through :func:`label`. The KPIs' Chinese labels live in the KPI registry
(:data:`kamsim.kpis.KPIS`, ``label_zh``) and are read from there, so a KPI is labelled in one
place per language.

Words of the plots (axis titles, legends) are keys with a dot (``axis.month``); a few carry
``str.format`` fields (``{currency}``, ``{n}``), filled in by the caller.

Imports no numerical library, so the command line may label things cheaply.
"""

from __future__ import annotations

from typing import Final, Literal

from kamsim.kpis import KPIS

Lang = Literal["en", "zh"]
LANGS: Final[tuple[Lang, ...]] = ("en", "zh")
"""The display languages: English and simplified Chinese."""

_STAGES: Final[dict[str, tuple[str, str]]] = {
    "development": ("Customer development", "客户开发"),
    "approval": ("Project approval", "立项"),
    "proposal": ("Proposal", "提案"),
    "tender": ("Tender", "招投标"),
    "negotiation": ("Negotiation", "商务谈判"),
    "implementation": ("Implementation", "工程实施"),
}

_POOLS: Final[dict[str, tuple[str, str]]] = {
    "account_managers": ("Account managers", "客户经理"),
    "presales": ("Presales engineers", "售前工程师"),
    "delivery": ("Delivery PMs", "交付项目经理"),
    "approvers": ("Approvers", "审批人"),
    "executives": ("Executives", "高管"),
}

_EXITS: Final[dict[str, tuple[str, str]]] = {
    "disqualified": ("Disqualified", "不符合定位"),
    "not_shortlisted": ("Not shortlisted", "未入围"),
    "customer_dropped": ("Customer dropped", "客户放弃"),
    "bid_lost": ("Bid lost", "未中标"),
    "negotiation_failed": ("Negotiation failed", "谈判失败"),
    "cancelled": ("Cancelled", "项目取消"),
    "went_cold": ("Went cold waiting", "等待过久流失"),
    "no_bid": ("No bid", "放弃投标"),
    "withdrew": ("Withdrew", "退出投标"),
    "not_approved": ("Not approved", "未通过资格审核"),
    "stalled": ("Stalled, closed by review", "停滞关闭"),
}

_OUTCOMES: Final[dict[str, tuple[str, str]]] = {
    "won": ("Won", "赢单"),
    "lost": ("Lost", "丢单"),
    "open": ("Open", "在途"),
    "passed": ("Passed", "通过"),
}

_GRADES: Final[dict[str, tuple[str, str]]] = {
    g: (f"Grade {g}", f"{g}类客户") for g in ("A", "B", "C", "D")
}

_UNITS: Final[dict[str, tuple[str, str]]] = {
    "share": ("%", "%"),
    "days": ("days", "天"),
    "deals": ("deals", "单"),
    "month": ("month", "月"),
}
"""The registry's units; ``currency`` is the scenario's code (``CNY``), not a label."""

_FLIPS: Final[dict[str, tuple[str, str]]] = {
    "lost_to_won": ("Lost → won", "丢单→赢单"),
    "won_to_lost": ("Won → lost", "赢单→丢单"),
    "open_to_won": ("Open → won", "在途→赢单"),
    "won_to_open": ("Won → open", "赢单→在途"),
    "repeat_gained": ("Repeat leads gained", "新增续单线索"),
    "repeat_lost": ("Repeat leads lost", "减少续单线索"),
    "value_gained": ("Value gained", "赢回金额"),
    "value_lost": ("Value lost", "失去金额"),
    "net_value": ("Net value", "净增金额"),
}

_KPIS_EN: Final[dict[str, str]] = {
    "bookings": "Bookings",
    "revenue": "Revenue",
    "cash": "Cash collected",
    "gross_margin": "Gross margin",
    "cost_of_sale": "Cost of sale",
    "contribution": "Contribution",
    "gross_margin_pct": "Gross margin %",
    "win_rate": "Win rate",
    "lead_conversion": "Lead conversion",
    "tender_win_rate": "Tender win rate",
    "approval_to_signed": "Approval to signed",
    "no_decision_share": "No-decision share",
    "award_to_signature_30d": "Signed within 30 d of award",
    "q4_acceptance_share": "Q4 share of acceptances",
    "cycle_time_days": "Cycle time",
    "dso_days": "Days sales outstanding",
    "wait_account_managers": "Wait for account managers",
    "wait_presales": "Wait for presales",
    "wait_delivery": "Wait for delivery PMs",
    "wait_approvers": "Wait for approvers",
    "wait_executives": "Wait for executives",
    "deals_won": "Deals won",
    "deals_lost": "Deals lost",
    "deals_open": "Deals open",
    "executive_days_per_month": "Executive days per month",
    "util_account_managers": "Utilisation: account managers",
    "util_presales": "Utilisation: presales",
    "util_delivery": "Utilisation: delivery PMs",
    "util_approvers": "Utilisation: approvers",
    "util_executives": "Utilisation: executives",
}
"""English KPI labels; the Chinese ones are the registry's ``label_zh``."""

_TEXT: Final[dict[str, tuple[str, str]]] = {
    # titles: what a plot shows, then what was simulated
    "title.fit_arrivals": (
        "Deals created per month: export against fit",
        "每月新建商机：实际与拟合",
    ),
    "title.fit_survival": (
        "Deals still open and won by age: export against fit",
        "按商机存续天数的未关闭与赢单占比：实际与拟合",
    ),
    "title.fit_win_rate": (
        "Win probability by segment: export against fit",
        "各细分的赢单概率：实际与拟合",
    ),
    "title.fit_calendar": ("Closes by month of the quarter", "按季度内月份的关单数"),
    "title.fit_detail": (
        "kamsim calibrate: observed in the CRM export, fitted by the scenario",
        "kamsim calibrate：CRM 导出的实际数据与场景的拟合",
    ),
    "title.run": ("{name}: {reps} replications, seed {seed}", "{name}：{reps} 次重复，种子 {seed}"),
    "title.funnel": (
        "Funnel: deals entering and leaving each stage",
        "漏斗：各阶段进入与离开的商机",
    ),
    "title.fan": ("{kpi} per month, median and P10–P90", "每月{kpi}：中位数与 P10–P90"),
    "title.fan_cumulative": ("Cumulative {kpi}, median and P10–P90", "累计{kpi}：中位数与 P10–P90"),
    "title.wip": ("Work in progress per stage", "各阶段在途商机"),
    "title.capacity": ("Utilisation and queues per pool", "各资源池利用率与排队"),
    "title.times": ("Time in stage and waits for people", "阶段耗时与资源等待"),
    "title.forest": ("Paired effects against {base}", "相对 {base} 的配对效应"),
    "title.forest_any": ("Paired effects against the base", "相对基准的配对效应"),
    "title.flips": ("Which deals flipped against {base}", "相对 {base} 翻转的商机"),
    "title.flips_any": ("Which deals flipped against the base", "相对基准翻转的商机"),
    "title.heatmap": ("{kpi} across the sweep", "参数扫描下的{kpi}"),
    "title.tornado": ("Sensitivity of {kpi}", "{kpi}的敏感性"),
    "title.journey": (
        "Journey of deal {deal}, replication {rep}",
        "商机 {deal} 的历程（第 {rep} 次重复）",
    ),
    "title.overloaded": ("over capacity: {pools}", "超负荷：{pools}"),
    "title.paired": (
        "{variants}: {n} paired replications, seed {seed}",
        "{variants}：{n} 次配对重复，种子 {seed}",
    ),
    "title.compared": ("{variants}: {n} paired replications", "{variants}：{n} 次配对重复"),
    "title.named": ("{name}: {what}", "{name}：{what}"),
    "title.sweep": ("mean of {n} replications per point", "每点 {n} 次重复的均值"),
    # axes
    "axis.kpi_unit": ("{kpi} ({unit})", "{kpi}（{unit}）"),
    "axis.month": ("Month", "月份"),
    "axis.deals_created": ("Deals created", "新建商机数"),
    "axis.days_since_created": ("Days since the deal was created", "商机创建后的天数"),
    "axis.share_of_deals": ("Share of deals", "商机占比"),
    "axis.win_probability": ("Win probability", "赢单概率"),
    "axis.closes": ("Deals closed", "关闭的商机数"),
    "axis.month_of_quarter.1": ("1st month", "季度第 1 月"),
    "axis.month_of_quarter.2": ("2nd month", "季度第 2 月"),
    "axis.month_of_quarter.3": ("3rd month", "季度第 3 月"),
    "axis.per_month": ("{kpi} per month ({unit})", "每月{kpi}（{unit}）"),
    "axis.cumulative": ("Cumulative {kpi} ({unit})", "累计{kpi}（{unit}）"),
    "axis.deals_per_rep": ("Deals per replication (mean)", "每次重复的商机数（均值）"),
    "axis.wip": ("Deals in stage (mean over {n} replications)", "阶段内商机数（{n} 次重复均值）"),
    "axis.utilisation": ("Utilisation (median)", "利用率（中位数）"),
    "axis.queue": ("Deals queueing (median)", "排队商机数（中位数）"),
    "axis.stage_days": ("Days in stage (visits that ended)", "阶段耗时（天，已结束的阶段）"),
    "axis.wait_days": ("Days waiting (holds that waited)", "等待天数（发生等待的占用）"),
    "axis.relative": (
        "Change against base, % of the base mean (paired, {level} interval)",
        "相对基准的变化，占基准均值的百分比（配对，{level} 区间）",
    ),
    "axis.symlog": ("; logarithmic beyond ±10%", "；±10% 以外为对数刻度"),
    "axis.flip_counts": (
        "Deals per replication (mean, 95% interval)",
        "每次重复的商机数（均值，95% 区间）",
    ),
    "axis.flip_values": ("Booked value per replication ({unit})", "每次重复的签约额（{unit}）"),
    "axis.effect": (
        "Effect on {kpi} against the base ({unit})",
        "对{kpi}的影响（相对基准，{unit}）",
    ),
    "axis.day": ("Day from {start}", "自 {start} 起的天数"),
    "axis.headcount": ("{pool}: headcount", "{pool}人数"),
    # legends and notes
    "legend.median": ("median", "中位数"),
    "legend.band": ("P10–P90 of {n} replications", "{n} 次重复的 P10–P90"),
    "legend.warmup": ("warm-up (left out of KPIs)", "预热期（不计入 KPI）"),
    "legend.offered": ("analytic offered load (dashed)", "解析计算的负载（虚线）"),
    "legend.analytic_queue": ("analytic mean queue (dashed)", "解析计算的平均队长（虚线）"),
    "legend.still_open": ("Still in stage", "仍在本阶段"),
    "legend.better": ("better", "更好"),
    "legend.worse": ("worse", "更差"),
    "legend.unclear": ("interval spans 0 or no direction", "区间含 0 或无优劣方向"),
    "legend.low": ("at low value", "取低值"),
    "legend.high": ("at high value", "取高值"),
    "legend.wait": ("waiting for the pool", "等待该资源"),
    "legend.lead_to_signature": ("Lead to signature (won)", "线索到签约（赢单）"),
    "legend.observed": ("observed", "实际"),
    "legend.observed_ci": ("observed, 95% interval", "实际及 95% 区间"),
    "legend.fitted": ("fitted", "拟合"),
    "legend.poisson_band": (
        "95% band of a Poisson count at the fitted rate",
        "按拟合速率的泊松计数 95% 区间",
    ),
    "legend.open_observed": ("still open, observed", "仍未关闭（实际）"),
    "legend.open_fitted": ("still open, fitted", "仍未关闭（拟合）"),
    "legend.won_observed": ("won so far, observed", "累计赢单（实际）"),
    "legend.won_fitted": ("won so far, fitted", "累计赢单（拟合）"),
    "legend.flat_band": ("flat, with 95% band", "均匀分布及 95% 区间"),
    "legend.grade": ("grade", "等级"),
    "list.sep": (", ", "、"),
    "note.entered": ("entered {n}", "进入 {n}"),
    "note.waited": ("{n} waited ({share} of holds)", "{n} 次等待（占用的 {share}）"),
    "note.no_waits": ("no waits", "无等待"),
    "note.not_shown": ("not shown (no base or interval): {kpis}", "未显示（无基准或区间）：{kpis}"),
    "note.outcome_won": ("won, booked {value}", "赢单，签约 {value}"),
    "note.outcome_lost": ("lost at {stage}: {reason}", "于{stage}丢单：{reason}"),
    "note.outcome_open": ("open at the end of the run", "运行结束时仍在途"),
    "note.ranked": ("paired effects, widest swing first", "配对效应，按摆幅从大到小"),
    "note.wait": ("waited {days} d", "等待 {days} 天"),
    # the HTML report (kamsim.report)
    "report.leads": ("Leads", "线索"),
    "report.wins": ("Wins", "赢单数"),
    "report.report": ("kamsim report", "kamsim 报告"),
    "report.scenario": ("What was simulated", "模拟内容"),
    "report.check": ("Analytic check", "解析检查"),
    "report.kpis": ("KPIs", "关键指标"),
    "report.comparison": ("Comparison", "方案对比"),
    "report.sweep": ("Sweep", "参数扫描"),
    "report.returns": ("Return on each added head", "新增人员的回报"),
    "report.sensitivity": ("Sensitivity", "敏感性分析"),
    "report.plots": ("Pictures", "图表"),
    "report.provenance": ("Provenance", "来源信息"),
    "report.command": ("Command", "命令"),
    "report.seed": ("Seed", "随机种子"),
    "report.replications": ("Replications", "重复次数"),
    "report.created": ("Created", "生成时间"),
    "report.status": ("Status", "状态"),
    "report.hash": ("Scenario hash", "场景哈希"),
    "report.versions": ("Package versions", "软件包版本"),
    "report.failed": ("Failed replications", "失败的重复"),
    "report.warnings": ("Warnings", "警告"),
    "report.notes": ("Notes", "说明"),
    "report.start": ("Start", "开始"),
    "report.horizon": ("Horizon (months)", "时长（月）"),
    "report.warmup": ("Warm-up (months)", "预热期（月）"),
    "report.leads_per_month": ("Leads per month", "每月线索数"),
    "report.headcount": ("Headcount", "人数"),
    "report.policy": ("Policy", "策略"),
    "report.per_year": ("per year, after warm-up", "每年，预热期后"),
    "report.mean_ci": ("mean [95% interval]", "均值 [95% 区间]"),
    "report.kpi": ("KPI", "指标"),
    "report.pool": ("Pool", "资源池"),
    "report.offered": ("Offered load", "负载"),
    "report.util": ("Utilisation", "利用率"),
    "report.p_wait": ("P(wait)", "等待概率"),
    "report.wait_days": ("Wait (days)", "等待（天）"),
    "report.queue": ("Queue", "队长"),
    "report.method": ("Method", "方法"),
    "report.measure": ("Measure", "项目"),
    "report.no_report_plots": ("No pictures for this command.", "此命令无图表。"),
    "report.calibrate": ("Calibration", "校准"),
    "report.estimates": ("Estimates: from data or assumed", "估计值：来自数据或假设"),
    "report.estimates_intro": (
        "Each number the scenario uses, with its 95% interval. Source data: estimated from the "
        "export; source assumption: a default the export cannot inform — check it.",
        "场景使用的每个数值及其 95% 区间。来源为数据：由导出数据估计；"
        "来源为假设：导出数据无法提供的默认值，请核对。",
    ),
    "report.from_data": ("From data", "来自数据"),
    "report.from_assumption": ("Assumptions", "假设"),
    "report.estimate": ("Estimate", "估计项"),
    "report.value": ("Value", "数值"),
    "report.low": ("95% low", "95% 下限"),
    "report.high": ("95% high", "95% 上限"),
    "report.source": ("Source", "来源"),
    "report.note": ("Note", "说明"),
    "report.data": ("data", "数据"),
    "report.assumption": ("assumption", "假设"),
    "report.fit_plots": ("Observed against fitted", "实际与拟合对比"),
    "report.repairs": ("Data problems repaired", "已修复的数据问题"),
    "report.no_repairs": ("The export needed no repairs.", "导出数据无需修复。"),
    "report.fit_notes": ("Notes on the fit", "拟合说明"),
    "report.scenario_toml": ("The calibrated scenario", "校准后的场景"),
    "report.input": ("Input file", "输入文件"),
    "report.input_sha256": ("Input SHA-256", "输入文件 SHA-256"),
    "report.mapping": ("Mapping", "字段映射"),
    "report.as_of": ("As of", "截至日期"),
    "report.window": ("Full months used", "使用的完整月份"),
    "report.pass_through": (
        "Stages the CRM does not record (pass through: no time, no loss)",
        "CRM 未记录的阶段（直通：不耗时、不流失）",
    ),
    "report.untimed": (
        "Stages recorded but not timed separately (pass through)",
        "已记录但未单独计时的阶段（直通）",
    ),
    "report.timed_stage": ("Stage carrying the cycle", "承载周期的阶段"),
}

_WORKSHOP: Final[dict[str, tuple[str, str]]] = {
    # the interactive workshop (kamsim.workshop): controls, buttons, views, acts
    "workshop.controls": ("Your decisions", "你的决策"),
    "workshop.headcount": ("{pool}", "{pool}"),
    "workshop.engagement": ("Executives engage at", "高层介入阶段"),
    "workshop.never": ("never", "不介入"),
    "workshop.executive_wait": ("Executive busy", "高管没空时"),
    "workshop.wait": ("deal waits", "商机等待"),
    "workshop.skip": ("go without", "不等高管"),
    "workshop.qualification": ("Qualify", "资格审核"),
    "workshop.qualification.all": ("all grades", "全部等级"),
    "workshop.qualification.a_to_c": ("grades A–C", "仅A–C类客户"),
    "workshop.qualification.ab": ("grades A/B", "仅A/B类客户"),
    "workshop.qualification.ab_margin": ("grades A/B, margin ≥ 15%", "仅A/B类且毛利≥15%"),
    "workshop.qualification.scenario": ("as the scenario says", "按场景设定"),
    "workshop.bid_margin": ("Bid only at margin ≥", "投标最低毛利"),
    "workshop.always_bid": ("always bid", "总是投标"),
    "workshop.wip_cap": ("Deals per AM, at most", "每位客户经理商机上限"),
    "workshop.no_cap": ("no cap", "不设上限"),
    "workshop.name": ("Run name", "方案名称"),
    "workshop.name_hint": ("e.g. Table 3: +2 presales", "例如：第3桌：售前+2"),
    "workshop.run": ("Run", "运行"),
    "workshop.new_market": ("New market", "换一个市场"),
    "workshop.seed": (
        "Market (seed) {seed}: every run meets the same customers",
        "市场（种子）{seed}：每次运行面对相同的客户",
    ),
    "workshop.reset": ("Reset", "重置"),
    "workshop.export": ("Export log and charts", "导出记录与图表"),
    "workshop.export_folder": ("Folder", "文件夹"),
    "workshop.exported": ("Wrote {n} files to {folder}", "已写入 {n} 个文件到 {folder}"),
    "workshop.facilitator": ("Facilitator", "主持人面板"),
    "workshop.hide": ("Predict first: hide results", "先预测：隐藏结果"),
    "workshop.reveal": ("Reveal", "揭晓"),
    "workshop.hidden": (
        "Results are ready. Take the room's predictions, then reveal.",
        "结果已算好。请大家先预测，再揭晓。",
    ),
    "workshop.ran": (
        "Run {number} “{name}”: on screen in {seconds} s, {how}",
        "方案 {number}“{name}”：{seconds} 秒完成显示，{how}",
    ),
    "workshop.cached": ("from the cache", "来自缓存"),
    "workshop.simulated": ("simulated {reps} replications", "模拟了 {reps} 次重复"),
    "workshop.baseline": ("Baseline", "基准"),
    "workshop.new_market_name": ("{name}, market {seed}", "{name}，市场 {seed}"),
    "workshop.month": ("Month", "月份"),
    "workshop.pool": ("Pool", "资源池"),
    "workshop.deal": ("Deal", "商机"),
    "workshop.vs_baseline": ("vs baseline", "相对基准"),
    "workshop.tab.queues": ("Queues building", "排队积压"),
    "workshop.tab.hockey": ("Wait vs utilisation", "等待与利用率"),
    "workshop.tab.lost": ("Deals lost", "丢单分析"),
    "workshop.tab.executive": ("Executive time", "高层投入"),
    "workshop.tab.journey": ("One deal's journey", "单个商机历程"),
    "workshop.tab.log": ("Scenario log", "方案记录"),
    # chart titles, axes and legends
    "workshop.title.queues": (
        "Queues building: deals waiting for our people, per stage",
        "排队积压：各阶段等待我方人员的商机",
    ),
    "workshop.title.board": ("The pipeline in month {month}", "第 {month} 月的管道"),
    "workshop.title.hockey": ("Waiting against utilisation: {pool}", "等待时间与利用率：{pool}"),
    "workshop.title.lost": (
        "Deals lost by stage and reason, after the warm-up",
        "按阶段与原因的丢单（预热期之后）",
    ),
    "workshop.title.executive": ("Executive time against win rate", "高层投入与赢率"),
    "workshop.title.compared": (
        "{name} against the baseline (grey): {reps} replications, seed {seed}",
        "{name} 对比基准（灰色）：{reps} 次重复，种子 {seed}",
    ),
    "workshop.title.market": (
        "runs in market (seed) {seed}, {reps} replications each; baseline grey",
        "市场（种子）{seed} 中的方案，每个 {reps} 次重复；基准为灰色",
    ),
    "workshop.axis.queue": ("Deals waiting (mean)", "排队商机数（均值）"),
    "workshop.axis.deals_in_stage": ("Deals in stage (mean)", "阶段内商机数（均值）"),
    "workshop.axis.util": (
        "Utilisation of {pool}, after the warm-up",
        "{pool}利用率（预热期之后）",
    ),
    "workshop.axis.wait": ("Mean wait for {pool} (days)", "等待{pool}的平均天数"),
    "workshop.axis.lost": ("Deals lost per replication (mean)", "每次重复的丢单数（均值）"),
    "workshop.axis.exec_days": (
        "Days each executive spends with customers per month",
        "每位高管每月拜访客户天数",
    ),
    "workshop.legend.baseline": ("baseline", "基准"),
    "workshop.legend.cursor": ("month {month}", "第 {month} 月"),
    "workshop.legend.waiting": ("waiting for our people", "等待我方人员"),
    "workshop.legend.working": ("being worked on", "正在推进"),
    "workshop.legend.grid": ("{pool}: headcount {low}–{high}", "{pool}：{low}–{high} 人"),
    "workshop.legend.engagement": ("executives engage at each stage", "高层在各阶段介入"),
    "workshop.legend.runs": ("runs in the log", "记录中的方案"),
    "workshop.legend.this_run": ("this run", "本次运行"),
    "workshop.note.delta": ("Δ {delta}", "Δ {delta}"),
    "workshop.note.days": ("{days} d", "{days} 天"),
    "workshop.note.points": ("{points} pp", "{points} 个百分点"),
    # headline and the one-line why
    "workshop.why.busiest": (
        "Busiest: {pool} at {util} (baseline {base_util}); a deal waits {wait} for them "
        "(baseline {base_wait}).",
        "最忙：{pool}，利用率 {util}（基准 {base_util}）；"
        "商机平均等待 {wait}（基准 {base_wait}）。",
    ),
    "workshop.why.cold": (
        "{n} deals per replication went cold waiting (baseline {base}).",
        "每次重复有 {n} 个商机因等待过久流失（基准 {base}）。",
    ),
    # one deal's journey
    "workshop.trace.day": ("Day", "天"),
    "workshop.trace.stage": ("Stage", "阶段"),
    "workshop.trace.event": ("What happens", "发生了什么"),
    "workshop.trace.enter": ("enters {stage}", "进入{stage}"),
    "workshop.trace.wait": ("waits for {pool}", "等待{pool}"),
    "workshop.trace.start": ("{pool}: work starts", "{pool}开始工作"),
    "workshop.trace.start_after": (
        "{pool}: work starts after {days} d waiting",
        "等待 {days} 天后{pool}开始工作",
    ),
    "workshop.trace.gave_up": (
        "the customer gives up waiting for {pool} after {days} d",
        "客户等待{pool} {days} 天后放弃",
    ),
    "workshop.trace.still_waiting": ("still waiting for {pool}", "仍在等待{pool}"),
    "workshop.trace.passed": ("passes {stage}", "通过{stage}"),
    "workshop.trace.lost": ("lost at {stage}: {reason}", "于{stage}丢单：{reason}"),
    "workshop.trace.open": ("still in {stage} when the run ends", "运行结束时仍在{stage}"),
    "workshop.deal_option": (
        "Deal {deal} · {grade} · {value}: {base} → {run}",
        "商机 {deal} · {grade} · {value}：{base} → {run}",
    ),
    "workshop.outcome.won": ("won", "赢单"),
    "workshop.outcome.open": ("open", "在途"),
    "workshop.outcome.lost": ("lost: {reason}", "丢单：{reason}"),
    # the log's columns
    "workshop.col.run": ("#", "#"),
    "workshop.col.name": ("Run", "方案"),
    "workshop.col.seed": ("Seed", "种子"),
    "workshop.col.rank": ("Rank", "排名"),
    "workshop.col.settings": ("Settings", "设置"),
    # facilitator presets: one per act
    "workshop.act1": ("Act 1 · Baseline", "第一幕 · 基准"),
    "workshop.act1.prompt": (
        "Our pipeline as it runs today. Before we look: in which stage do we lose most "
        "deals, and where do deals wait for our people?",
        "今天的销售管道。先猜一猜：哪个阶段丢单最多？商机在哪里等待我方人员？",
    ),
    "workshop.act2": ("Act 2 · Presales short", "第二幕 · 售前紧缺"),
    "workshop.act2.prompt": (
        "Presales drops from {base_presales} to {presales} engineers. Predict the win rate "
        "(now {win_rate}) and the bookings.",
        "售前工程师从 {base_presales} 人减到 {presales} 人。"
        "请预测赢率（现为 {win_rate}）和签约额。",
    ),
    "workshop.act3": ("Act 3 · Why waiting loses deals", "第三幕 · 等待为何丢单"),
    "workshop.act3.prompt": (
        "Same market, same customer, two policies. Follow one deal: where does it wait, and "
        "why is it lost?",
        "同一市场、同一客户、两种做法。跟踪一个商机：它在哪里等待？为什么丢单？",
    ),
    "workshop.act4": ("Act 4 · Executives early", "第四幕 · 高层提前介入"),
    "workshop.act4.prompt": (
        "Executives join at the proposal instead of at {base_engagement}. What does it win, "
        "and what does it cost in executive days?",
        "高层在提案阶段而非{base_engagement}阶段介入。能多赢多少？要花多少高管时间？",
    ),
    "workshop.act5": ("Act 5 · Focus: a WIP cap", "第五幕 · 聚焦：在途上限"),
    "workshop.act5.prompt": (
        "Each account manager carries at most {wip_cap} active deals. Fewer deals, more "
        "focus: do we win more? Then each table tries its own policy.",
        "每位客户经理最多同时跟进 {wip_cap} 个商机。商机更少、更专注：会赢得更多吗？"
        "之后各桌尝试自己的策略。",
    ),
}
"""The workshop's words (:mod:`kamsim.workshop`)."""


_KEYED: Final[tuple[dict[str, tuple[str, str]], ...]] = (
    _STAGES,
    _POOLS,
    _EXITS,
    _OUTCOMES,
    _GRADES,
    _UNITS,
    _FLIPS,
    _TEXT,
    _WORKSHOP,
)


def _check_lang(lang: str) -> int:
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not a display language; use one of {LANGS}")
    return LANGS.index(lang)


def label(key: str, lang: str = "en") -> str:
    """The display text of ``key`` in ``lang`` (``"en"`` or ``"zh"``); a key without a label
    is shown as itself, so a scenario's own exit reason still prints."""
    index = _check_lang(lang)
    for table in _KEYED:
        if key in table:
            return table[key][index]
    if key in KPIS:
        return KPIS[key].label_zh if index else _KPIS_EN.get(key, key)
    return key
