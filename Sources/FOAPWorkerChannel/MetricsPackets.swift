/// Splits Prometheus text into packets of at most `limit` bytes at line boundaries. With `repeatingHeaders`
/// (worker reports) the current family's `# HELP`/`# TYPE` lines open each packet, so every packet can be read on
/// its own; without (the master's answer, put back together whole) the text is cut as it is.
public enum MetricsPackets {
    /// The largest chunk, in bytes (a packet also carries its first line: see `ChannelPacket.maximumSize`).
    public static let limit = 48 * 1024

    public static func split(_ text: String, limit: Int = Self.limit, repeatingHeaders: Bool = true) -> [String] {
        guard repeatingHeaders else {
            var packets: [String] = []
            var packet = ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                if packet.utf8.count + line.utf8.count + 1 > limit, !packet.isEmpty {
                    packets.append(packet)
                    packet = ""
                }
                packet += line + "\n"
            }
            return packet.isEmpty ? packets : packets + [packet]
        }
        var packets: [String] = []
        var packet = ""
        var header = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") {
                header = String(line) + "\n"
                continue
            }
            if line.hasPrefix("# TYPE ") {
                header += line + "\n"
                if packet.utf8.count + header.utf8.count > limit, !packet.isEmpty {
                    packets.append(packet)
                    packet = ""
                }
                packet += header
                continue
            }
            if packet.utf8.count + line.utf8.count + 1 > limit, !packet.isEmpty {
                packets.append(packet)
                packet = header
            }
            packet += line + "\n"
        }
        if !packet.isEmpty {
            packets.append(packet)
        }
        return packets
    }
}
