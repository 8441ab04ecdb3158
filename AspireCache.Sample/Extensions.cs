using Microsoft.Extensions.Options;

namespace AspireCache.Sample;

/// <summary>The catalog's wiring: everything it takes from AspireCache is here.</summary>
internal static class Extensions
{
    /// <summary>The prefix of the catalog's configuration keys in the cache: <c>config/catalog/Catalog/Greeting</c> is <c>Catalog:Greeting</c>.</summary>
    public const string ConfigurationPrefix = "config/catalog/";

    public static IHostApplicationBuilder AddCatalogServices(this IHostApplicationBuilder builder)
    {
        // IAspireCacheClient for ConnectionStrings:cache (the AppHost's `.WithReference(cache)`).
        builder.AddAspireCacheClient("cache");

        // Live configuration: the keys under config/catalog/ as configuration, reloaded by a watch, so
        // IOptionsMonitor<CatalogOptions> changes within milliseconds of a PUT (appsettings.json has the defaults).
        builder.Configuration.AddAspireCache("cache", prefix: ConfigurationPrefix);
        builder.Services.AddOptions<CatalogOptions>()
            .BindConfiguration(CatalogOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<CatalogSettings>();

        // HybridCache: L1 in memory, L2 on the cluster (IDistributedCache under dcache/), and each
        // instance's L1 entry dropped when the product changes on another instance.
        builder.AddAspireCacheDistributedCache("cache", settings => settings.InvalidateHybridCacheL1 = true);
        builder.Services.AddHybridCache();

        builder.Services.AddSingleton<ProductStore>();
        return builder;
    }
}

/// <summary>
/// The current <see cref="CatalogOptions"/> and when they last changed, as one snapshot: the options a
/// request sees and the change that brought them are read together. (IOptionsMonitor updates
/// CurrentValue before it calls OnChange listeners, so reading the two separately can pair new options
/// with no change time yet.)
/// </summary>
internal sealed class CatalogSettings : IDisposable
{
    private readonly IDisposable? _listener;
    private readonly Lock _gate = new();
    private Snapshot _snapshot;

    public CatalogSettings(IOptionsMonitor<CatalogOptions> monitor, TimeProvider time)
    {
        LoadedAt = time.GetUtcNow();
        _snapshot = new Snapshot(monitor.CurrentValue, ChangedAt: null, Changes: 0);
        _listener = monitor.OnChange(options =>
        {
            lock (_gate)
            {
                var previous = Volatile.Read(ref _snapshot);
                Volatile.Write(ref _snapshot, new Snapshot(options, time.GetUtcNow(), previous.Changes + 1));
            }
        });
    }

    /// <summary>The options and the change that brought them (null before the first change).</summary>
    public Snapshot State => Volatile.Read(ref _snapshot);

    public CatalogOptions Current => State.Options;

    public DateTimeOffset LoadedAt { get; }

    public void Dispose() => _listener?.Dispose();

    /// <summary>One version of the options.</summary>
    public sealed record Snapshot(CatalogOptions Options, DateTimeOffset? ChangedAt, int Changes);
}
