import FOAPMetrics

/// The master's sum of every worker's metrics: what `GET /metrics` answers, whichever worker serves the scrape.
///
/// Each worker sends its cumulative series (Prometheus text) over its control socket with every heartbeat that
/// has news (every 0.5 s at most). The master keeps each live worker's latest values and, when a worker exits,
/// folds its counters into `retired`, so a counter never goes back — not when a generation is replaced, not when a
/// worker crashes. What is lost is bounded: a crashed worker's increments since its last report (at most 0.5 s
/// of its traffic). Gauges (`in_flight`) are summed over live workers only.
///
/// The master does not know what the series mean: it adds numbers by series key, families typed by the workers'
/// own `# TYPE` lines. No proxy logic lives here. Numbers are added as ``ExactAmount``s, not doubles, so a total does
/// not depend on the order of the additions and a retire never makes a histogram's `_sum` go down.
struct MetricsAggregator {
    struct Family {
        var name: String
        var help: String
        var type: String
        var series: [String] = []
        var known: Set<String> = []
    }

    private(set) var families: [Family] = []
    private var familyIndex: [String: Int] = [:]
    private var familyOfSeries: [String: Int] = [:]
    private var live: [WorkerID: [String: ExactAmount]] = [:]
    private var retired: [String: ExactAmount] = [:]
    private var retiredWorkers: Set<WorkerID> = []

    /// Takes one report (or one chunk of it): every sample line sets that worker's value of its series.
    mutating func update(_ worker: WorkerID, report: Substring) {
        guard !self.retiredWorkers.contains(worker) else { return }
        var current: Int?
        var pendingHelp: (String, String)?
        var values = self.live[worker] ?? [:]
        for line in report.split(separator: "\n") {
            if line.hasPrefix("# HELP ") {
                let rest = line.dropFirst(7)
                let name = rest.prefix { $0 != " " }
                pendingHelp = (String(name), String(rest.dropFirst(name.count + 1)))
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2 else { continue }
                let name = String(parts[0])
                let help = pendingHelp?.0 == name ? pendingHelp!.1 : ""
                current = self.family(named: name, type: String(parts[1]), help: help)
                continue
            }
            guard !line.hasPrefix("#"), let family = current, let space = line.lastIndex(of: " "),
                let number = Double(line[line.index(after: space)...]), let value = ExactAmount(number)
            else { continue }
            let key = String(line[..<space])
            if !self.families[family].known.contains(key) {
                self.families[family].known.insert(key)
                self.families[family].series.append(key)
                self.familyOfSeries[key] = family
            }
            values[key] = value
        }
        self.live[worker] = values
    }

    /// A worker exited: its counters stay in the totals; its gauges go.
    mutating func retire(_ worker: WorkerID) {
        self.retiredWorkers.insert(worker)
        guard let values = self.live.removeValue(forKey: worker) else { return }
        for (key, value) in values {
            guard let family = self.familyOfSeries[key], self.families[family].type != "gauge" else { continue }
            self.retired[key, default: ExactAmount()] += value
        }
    }

    /// The sum of every family, in the order they were first reported.
    func render() -> String {
        var text = ""
        for family in self.families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
            let isGauge = family.type == "gauge"
            for key in family.series {
                var total = isGauge ? ExactAmount() : self.retired[key, default: ExactAmount()]
                for values in self.live.values {
                    total += values[key] ?? ExactAmount()
                }
                text += key + " " + MetricsText.number(total.value) + "\n"
            }
        }
        return text
    }

    private mutating func family(named name: String, type: String, help: String) -> Int {
        if let index = self.familyIndex[name] {
            return index
        }
        self.familyIndex[name] = self.families.count
        self.families.append(Family(name: name, help: help, type: type))
        return self.families.count - 1
    }
}
