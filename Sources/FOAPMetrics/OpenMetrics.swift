/// The Prometheus text as OpenMetrics 1.0, for scrapers that ask for it (`Accept: application/openmetrics-text`):
/// a counter family is named without its `_total` suffix (the samples keep it), and the text ends with `# EOF`.
public enum OpenMetrics {
    public static func convert(_ text: String) -> String {
        var counters: Set<Substring> = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).prefix { $0 != " " })
        }
        var output = ""
        output.reserveCapacity(text.utf8.count + 8)
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let kind = line.prefix(7)
                let name = line.dropFirst(7).prefix { $0 != " " }
                if counters.contains(name), name.hasSuffix("_total") {
                    output += kind + name.dropLast(6) + line.dropFirst(7 + name.count) + "\n"
                    continue
                }
            }
            output += line + "\n"
        }
        return output + "# EOF\n"
    }
}
