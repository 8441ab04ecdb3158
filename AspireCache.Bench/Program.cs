using AspireCache.Bench;

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

if (options.ShowHelp)
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

if (options.Mode == BenchMode.Chart)
{
    var written = Charts.Render(options.InputPath!, options.OutputDirectory, Console.Out);
    foreach (var file in written)
    {
        Console.WriteLine($"wrote {file}");
    }

    return 0;
}

if (options.Mode == BenchMode.WalSync)
{
    WalSyncProbe.Run(options, Console.Out);
    return 0;
}

if (options.Mode == BenchMode.Probe)
{
    var probes = await StallProbe.RunAsync(options, Console.Out, cts.Token);
    return probes.All(p => p.Requests > p.Errors) ? 0 : 1;
}

if (options.Mode == BenchMode.LeaderWatch)
{
    return await LeaderWatch.RunAsync(options, Console.Out, cts.Token) is null ? 1 : 0;
}

if (options.Mode == BenchMode.Snapshot)
{
    return (await SnapshotRunner.RunAsync(options, Console.Out, cts.Token)).SnapshotSucceeded ? 0 : 1;
}

if (options.Mode == BenchMode.ConfigReads)
{
    return await ConfigReadsRunner.RunAsync(
        new ConfigReadsSettings([.. options.Targets], options.Instances, options.Readers, options.Keys, options.ValueSize, options.Duration, [.. options.ReadModes], options.MaxStaleness, [.. options.Pids], options.AspireCacheCredential),
        Console.Out,
        cts.Token);
}

if (options.Mode == BenchMode.Propagation)
{
    return await ConfigReadsRunner.RunPropagationAsync(options.Targets[0], options.Instances, options.Writes, options.AspireCacheCredential, Console.Out, cts.Token);
}

if (options.Mode == BenchMode.Watch)
{
    var watch = await WatchRunner.RunAsync(options, Console.Out, cts.Token);
    return watch.Opened > 0 && watch.WritesAcknowledged > 0 ? 0 : 1;
}

var result = await BenchRunner.RunAsync(options, Console.Out, cts.Token);
ResultWriter.WriteTable(result, Console.Out);
if (options.JsonPath is { } path)
{
    await ResultWriter.WriteJsonAsync(result, path);
    Console.WriteLine($"json: {path}");
}

// Failover mode fails the process when an acknowledged write was lost or a linearizable read was stale.
return result.Failover is { LostWrites: > 0 } or { StaleReads: > 0 } ? 1 : 0;
