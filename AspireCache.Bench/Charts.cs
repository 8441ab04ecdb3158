using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;

namespace AspireCache.Bench;

/// <summary>One load-mode run of a scale sweep: where it sits on the sweeps and what it measured.</summary>
/// <param name="System">Who was measured, as shown: <c>AspireCache</c>, <c>etcd</c> (or a run's own <c>systemLabel</c>).</param>
/// <param name="Workload"><c>writes</c>, <c>linearizable reads</c>, <c>stale reads</c> or a mix.</param>
/// <param name="Connections">Closed-loop workers (= connections).</param>
/// <param name="ValueSize">Bytes per value.</param>
/// <param name="Throughput">Successful operations per second.</param>
/// <param name="P50Ms">Median latency of all operations.</param>
/// <param name="P99Ms">99th percentile latency of all operations.</param>
/// <param name="Errors">Failed operations in the measured window.</param>
public sealed record ScalePoint(string System, string Workload, int Connections, int ValueSize, double Throughput, double P50Ms, double P99Ms, long Errors)
{
    /// <summary>One line of a chart: system and workload.</summary>
    public string Series => System + " " + Workload;
}

/// <summary>
/// A scale sweep: the connections sweep holds the points at <see cref="FixedValueSize"/>, the value-size
/// sweep those at <see cref="FixedConnections"/> (the point where both meet is on both).
/// </summary>
/// <param name="FixedValueSize">The value size of the connections sweep.</param>
/// <param name="FixedConnections">The connections of the value-size sweep.</param>
/// <param name="Points">Every run, in the order measured.</param>
/// <param name="Note">Free text for the charts' titles (machine, duration per point), if any.</param>
public sealed record ScaleResults(int FixedValueSize, int FixedConnections, IReadOnlyList<ScalePoint> Points, string? Note = null);

/// <summary>
/// <c>--mode chart</c>: the table and charts of a scale sweep (bench/scale.sh), from a results file, so
/// they can be redrawn without measuring again. Charts: throughput and p99 against connections and against
/// value size, log2 x axis, one line per system + workload (colour = system, dash and marker = workload).
/// </summary>
public static class Charts
{
    public const string ThroughputVsConnections = "bench-throughput-vs-connections.png";
    public const string P99VsConnections = "bench-p99-vs-connections.png";
    public const string ThroughputVsValueSize = "bench-throughput-vs-value-size.png";
    public const string P99VsValueSize = "bench-p99-vs-value-size.png";
    public const string TableFile = "scale.md";

    public const int Width = 1000;
    public const int Height = 600;

    private static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];
    private static readonly MarkerShape[] Markers = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];

    /// <summary>Reads the results file and writes the table (<see cref="TableFile"/>, also printed) and the four PNGs; returns the files written.</summary>
    public static IReadOnlyList<string> Render(string inputPath, string? outputDirectory, TextWriter output)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(inputPath);
        ArgumentNullException.ThrowIfNull(output);
        var results = Load(inputPath);
        var directory = outputDirectory ?? Path.GetDirectoryName(Path.GetFullPath(inputPath))!;
        return Render(results, directory, output);
    }

    /// <inheritdoc cref="Render(string, string?, TextWriter)"/>
    public static IReadOnlyList<string> Render(ScaleResults results, string outputDirectory, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        ArgumentNullException.ThrowIfNull(output);
        Directory.CreateDirectory(outputDirectory);
        var written = new List<string>();

        var table = MarkdownTable(results);
        var tablePath = Path.Combine(outputDirectory, TableFile);
        File.WriteAllText(tablePath, table);
        output.Write(table);
        written.Add(tablePath);

        var byConnections = ConnectionsSweep(results);
        var bySize = ValueSizeSweep(results);
        var systems = results.Points.Select(p => p.System).Distinct(StringComparer.Ordinal).ToList();
        var workloads = Workloads(results.Points);
        var note = results.Note is { Length: > 0 } n ? " · " + n : "";
        var sizeText = Size(results.FixedValueSize);

        void Chart(string file, IReadOnlyList<ScalePoint> points, Func<ScalePoint, int> x, bool p99, string title, string xLabel, Func<int, string> xText)
        {
            if (points.Count == 0)
            {
                return;
            }

            var path = Path.Combine(outputDirectory, file);
            Draw(path, points, x, p99, systems, workloads, title, xLabel, xText);
            written.Add(path);
        }

        Chart(ThroughputVsConnections, byConnections, p => p.Connections, false, $"Throughput vs connections ({sizeText} values){note}", "connections (log2 scale)", Count);
        Chart(P99VsConnections, byConnections, p => p.Connections, true, $"p99 latency vs connections ({sizeText} values){note}", "connections (log2 scale)", Count);
        Chart(ThroughputVsValueSize, bySize, p => p.ValueSize, false, $"Throughput vs value size ({results.FixedConnections} connections){note}", "value size (log2 scale)", Size);
        Chart(P99VsValueSize, bySize, p => p.ValueSize, true, $"p99 latency vs value size ({results.FixedConnections} connections){note}", "value size (log2 scale)", Size);
        return written;
    }

    /// <summary>The connections sweep: points at the fixed value size, the last of each series and connection count.</summary>
    public static IReadOnlyList<ScalePoint> ConnectionsSweep(ScaleResults results) =>
        Latest(results.Points.Where(p => p.ValueSize == results.FixedValueSize), p => p.Connections);

    /// <summary>The value-size sweep: points at the fixed connection count, the last of each series and size.</summary>
    public static IReadOnlyList<ScalePoint> ValueSizeSweep(ScaleResults results) =>
        Latest(results.Points.Where(p => p.Connections == results.FixedConnections), p => p.ValueSize);

    private static List<ScalePoint> Latest(IEnumerable<ScalePoint> points, Func<ScalePoint, int> x) =>
        points.GroupBy(p => (p.Series, X: x(p))).Select(g => g.Last()).OrderBy(x).ToList();

    // ------------------------------------------------------------------------------------------
    // Results file
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// Reads <c>{"fixedValueSize": 256, "fixedConnections": 64, "note": "...", "runs": [...]}</c> or a bare array
    /// of runs; each run is a load-mode JSON result (<see cref="ResultWriter.WriteJson"/>), optionally with a
    /// <c>systemLabel</c> that replaces the system's name in the charts and the table.
    /// </summary>
    public static ScaleResults Load(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        var fixedValueSize = 256;
        var fixedConnections = 64;
        string? note = null;
        JsonElement runs;
        if (root.ValueKind == JsonValueKind.Array)
        {
            runs = root;
        }
        else
        {
            if (root.TryGetProperty("fixedValueSize", out var v))
            {
                fixedValueSize = v.GetInt32();
            }

            if (root.TryGetProperty("fixedConnections", out var c))
            {
                fixedConnections = c.GetInt32();
            }

            if (root.TryGetProperty("note", out var n) && n.ValueKind == JsonValueKind.String)
            {
                note = n.GetString();
            }

            if (!root.TryGetProperty("runs", out runs) || runs.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{path}: expected a 'runs' array or an array of runs.");
            }
        }

        var points = new List<ScalePoint>();
        foreach (var run in runs.EnumerateArray())
        {
            points.Add(Point(run));
        }

        return new ScaleResults(fixedValueSize, fixedConnections, points, note);
    }

    private static ScalePoint Point(JsonElement run)
    {
        var options = run.GetProperty("options");
        var system = options.GetProperty("system").GetString() ?? "?";
        var label = run.TryGetProperty("systemLabel", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()! : system switch
        {
            "aspirecache" => "AspireCache",
            _ => system,
        };
        var total = run.GetProperty("total");
        return new ScalePoint(
            label,
            Workload(options.GetProperty("readFraction").GetDouble(), options.GetProperty("consistency").GetString()),
            options.GetProperty("connections").GetInt32(),
            options.GetProperty("valueSize").GetInt32(),
            run.GetProperty("throughput").GetDouble(),
            total.GetProperty("p50Ms").GetDouble(),
            total.GetProperty("p99Ms").GetDouble(),
            run.GetProperty("totalErrors").GetInt64());
    }

    private static string Workload(double readFraction, string? consistency)
    {
        var reads = consistency == "stale" ? "stale reads" : "linearizable reads";
        return readFraction switch
        {
            <= 0 => "writes",
            >= 1 => reads,
            _ => string.Create(CultureInfo.InvariantCulture, $"{readFraction * 100:0}/{(1 - readFraction) * 100:0} {reads}/writes"),
        };
    }

    // ------------------------------------------------------------------------------------------
    // Table
    // ------------------------------------------------------------------------------------------

    /// <summary>
    /// Per sweep and workload, one row per point: throughput, p50 and p99 of each system, side by side
    /// (with the ratio of the first system to the second when there are two, as in compare-etcd.sh).
    /// </summary>
    public static string MarkdownTable(ScaleResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var text = new StringBuilder();
        Sweep(text, ConnectionsSweep(results), p => p.Connections, "connections", $"Connections sweep ({Size(results.FixedValueSize)} values)", Count);
        Sweep(text, ValueSizeSweep(results), p => p.ValueSize, "value size", $"Value-size sweep ({results.FixedConnections} connections)", Size);
        return text.ToString();
    }

    private static void Sweep(StringBuilder text, IReadOnlyList<ScalePoint> points, Func<ScalePoint, int> x, string xName, string heading, Func<int, string> xText)
    {
        if (points.Count == 0)
        {
            return;
        }

        var inv = CultureInfo.InvariantCulture;
        foreach (var workload in Workloads(points))
        {
            var rows = points.Where(p => p.Workload == workload).ToList();
            var systems = rows.Select(p => p.System).Distinct(StringComparer.Ordinal).ToList();
            var pair = systems.Count == 2;
            text.Append(inv, $"#### {heading}: {workload}\n\n| {xName} |");
            foreach (var s in systems)
            {
                text.Append(inv, $" {s} ops/s |");
            }

            if (pair)
            {
                text.Append(" ratio |");
            }

            foreach (var metric in new[] { "p50", "p99" })
            {
                foreach (var s in systems)
                {
                    text.Append(inv, $" {s} {metric} ms |");
                }
            }

            if (pair)
            {
                text.Append(" p99 ratio |");
            }

            text.Append(" errors |\n|---:|");
            text.Append(string.Concat(Enumerable.Repeat("---:|", (systems.Count * 3) + (pair ? 2 : 0) + 1)));
            text.Append('\n');

            foreach (var at in rows.Select(x).Distinct().Order())
            {
                var cells = systems.Select(s => rows.LastOrDefault(p => p.System == s && x(p) == at)).ToList();
                text.Append(inv, $"| {xText(at)} |");
                foreach (var c in cells)
                {
                    text.Append(c is null ? " – |" : string.Create(inv, $" {c.Throughput:#,0} |"));
                }

                if (pair)
                {
                    text.Append(' ').Append(Ratio(cells[0]?.Throughput, cells[1]?.Throughput)).Append(" |");
                }

                foreach (var metric in new Func<ScalePoint, double>[] { p => p.P50Ms, p => p.P99Ms })
                {
                    foreach (var c in cells)
                    {
                        // No operation completed in the window (e.g. 1,024 writes of 64 KiB in 2 s): no latency to show.
                        text.Append(c is null || c.Throughput <= 0 ? " – |" : string.Create(inv, $" {metric(c):0.00} |"));
                    }
                }

                if (pair)
                {
                    text.Append(' ').Append(Ratio(cells[0] is { Throughput: > 0 } a ? a.P99Ms : null, cells[1] is { Throughput: > 0 } b ? b.P99Ms : null)).Append(" |");
                }

                text.Append(' ').Append(string.Join(" / ", cells.Select(c => c is null ? "–" : c.Errors.ToString(inv)))).Append(" |\n");
            }

            text.Append('\n');
        }
    }

    /// <summary>The workloads present: writes, linearizable reads, stale reads, then any mix (in order of appearance).</summary>
    private static List<string> Workloads(IEnumerable<ScalePoint> points) =>
        points.Select(p => p.Workload).Distinct(StringComparer.Ordinal)
            .Select((w, i) => (w, i))
            .OrderBy(x => x.w switch { "writes" => 0, "linearizable reads" => 1, "stale reads" => 2, _ => 3 })
            .ThenBy(x => x.i)
            .Select(x => x.w)
            .ToList();

    private static string Ratio(double? a, double? b) =>
        a is { } x && b is { } y && y > 0 ? (x / y).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    // ------------------------------------------------------------------------------------------
    // Charts
    // ------------------------------------------------------------------------------------------

    private static void Draw(string path, IReadOnlyList<ScalePoint> points, Func<ScalePoint, int> x, bool p99, List<string> systems, List<string> workloads, string title, string xLabel, Func<int, string> xText)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double Y(ScalePoint p) => p99 ? Math.Log10(p.P99Ms) : p.Throughput;

        foreach (var series in points.GroupBy(p => p.Series).OrderBy(g => systems.IndexOf(g.First().System)).ThenBy(g => workloads.IndexOf(g.First().Workload)))
        {
            // A log axis has no place for 0 ms (a point without a successful operation).
            var line = series.Where(p => !p99 || p.P99Ms > 0).OrderBy(x).ToArray();
            if (line.Length == 0)
            {
                continue;
            }

            var first = line[0];
            var scatter = plot.Add.Scatter(line.Select(p => Math.Log2(x(p))).ToArray(), line.Select(Y).ToArray());
            scatter.LegendText = series.Key;
            scatter.Color = palette.GetColor(Math.Max(0, systems.IndexOf(first.System)));
            scatter.LinePattern = Patterns[Math.Max(0, workloads.IndexOf(first.Workload)) % Patterns.Length];
            scatter.MarkerShape = Markers[Math.Max(0, workloads.IndexOf(first.Workload)) % Markers.Length];
            scatter.LineWidth = 2;
            scatter.MarkerSize = 8;
        }

        // x: one labelled tick per measured point (1, 4, 16 … or 64 B, 1 KiB …), evenly spaced in log2.
        var xs = points.Select(x).Distinct().Order().ToArray();
        var xTicks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var value in xs)
        {
            xTicks.AddMajor(Math.Log2(value), xText(value));
        }

        plot.Axes.Bottom.TickGenerator = xTicks;
        plot.Axes.SetLimitsX(Math.Log2(xs[0]) - 0.4, Math.Log2(xs[^1]) + 0.4);

        if (p99)
        {
            // y: log10 of milliseconds, labelled on a 1-2-5 sequence.
            var values = points.Where(p => p.P99Ms > 0).Select(p => p.P99Ms).DefaultIfEmpty(1).ToArray();
            var low = Math.Floor(Math.Log10(values.Min()));
            var high = Math.Ceiling(Math.Log10(values.Max()));
            if (high <= low)
            {
                high = low + 1;
            }

            var yTicks = new ScottPlot.TickGenerators.NumericManual();
            for (var decade = low; decade <= high; decade++)
            {
                for (var m = 1; m <= 9; m++)
                {
                    var at = Math.Log10(m) + decade;
                    if (m is 1 or 2 or 5)
                    {
                        yTicks.AddMajor(at, Milliseconds(Math.Pow(10, at)));
                    }
                    else
                    {
                        yTicks.AddMinor(at);
                    }
                }
            }

            plot.Axes.Left.TickGenerator = yTicks;
            var lo = Math.Log10(values.Min());
            var hi = Math.Log10(values.Max());
            var pad = Math.Max(0.1, (hi - lo) * 0.08);
            plot.Axes.SetLimitsY(lo - pad, hi + pad);
            plot.YLabel("p99 latency, ms (log scale)");
        }
        else
        {
            var max = points.Select(p => p.Throughput).DefaultIfEmpty(1).Max();
            plot.Axes.SetLimitsY(0, Math.Max(1, max) * 1.08);
            var yTicks = new ScottPlot.TickGenerators.NumericAutomatic
            {
                LabelFormatter = v => v.ToString("#,0", CultureInfo.InvariantCulture),
            };
            plot.Axes.Left.TickGenerator = yTicks;
            plot.YLabel("throughput, ops/s");
        }

        plot.XLabel(xLabel);
        plot.Title(title);
        plot.Axes.Title.Label.FontSize = 16;
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, Width, Height);
    }

    private static string Milliseconds(double ms) =>
        ms >= 1 ? ms.ToString("#,0.##", CultureInfo.InvariantCulture) : ms.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Count(int n) => n.ToString("#,0", CultureInfo.InvariantCulture);

    /// <summary>64 B, 1 KiB, 64 KiB, 1.5 KiB, 2 MiB.</summary>
    public static string Size(int bytes) => bytes switch
    {
        >= 1 << 20 when bytes % (1 << 20) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 20} MiB"),
        >= 1 << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
