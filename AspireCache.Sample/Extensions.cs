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

/// <summary>The current <see cref="CatalogOptions"/> and when they last changed (IOptionsMonitor.OnChange).</summary>
internal sealed class CatalogSettings : IDisposable
{
    private readonly IOptionsMonitor<CatalogOptions> _monitor;
    private readonly IDisposable? _listener;

    public CatalogSettings(IOptionsMonitor<CatalogOptions> monitor, TimeProvider time)
    {
        _monitor = monitor;
        LoadedAt = time.GetUtcNow();
        _listener = monitor.OnChange(_ =>
        {
            ChangedAt = time.GetUtcNow();
            Interlocked.Increment(ref _changes);
        });
    }

    private int _changes;

    public CatalogOptions Current => _monitor.CurrentValue;

    public DateTimeOffset LoadedAt { get; }

    public DateTimeOffset? ChangedAt { get; private set; }

    public int Changes => Volatile.Read(ref _changes);

    public void Dispose() => _listener?.Dispose();
}
