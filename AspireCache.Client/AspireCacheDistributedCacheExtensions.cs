using AspireCache.Client;
using AspireCache.Client.DistributedCache;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// <c>builder.AddAspireCacheDistributedCache("cache")</c>: <see cref="IDistributedCache"/> (and
/// <see cref="IBufferDistributedCache"/>) on the AspireCache cluster, so that <c>AddHybridCache()</c>,
/// sessions and output caching use it as their store.
/// </summary>
public static class AspireCacheDistributedCacheExtensions
{
    /// <summary>The configuration section the distributed cache's settings are bound from.</summary>
    public const string DefaultConfigSectionName = "Aspire:AspireCache:DistributedCache";

    /// <summary>
    /// Registers <see cref="AspireCacheDistributedCache"/> as the application's <see cref="IDistributedCache"/>
    /// over the connection <paramref name="connectionName"/> (<c>ConnectionStrings:{connectionName}</c>),
    /// sharing the client of <c>AddAspireCacheClient</c> for the same connection or registering it
    /// (with its health check, traces and metrics) if it is not registered yet.
    /// </summary>
    /// <remarks>
    /// Settings are bound from <c>Aspire:AspireCache:DistributedCache</c>, then
    /// <c>Aspire:AspireCache:DistributedCache:{connectionName}</c>, then <paramref name="configureSettings"/>.
    /// With <see cref="AspireCacheDistributedCacheSettings.InvalidateHybridCacheL1"/> a hosted service
    /// follows one watch stream on the key prefix and drops this instance's HybridCache L1 entry of
    /// every key that changes (on any instance): see <see cref="HybridCacheL1Invalidator"/>. It is a
    /// setting of this registration, not a call of its own, because it is only correct for the keys
    /// and connection this cache writes (the same prefix, the same cluster).
    /// </remarks>
    /// <param name="builder">The application builder.</param>
    /// <param name="connectionName">The connection string's name (the AppHost resource's name).</param>
    /// <param name="configureSettings">Changes the settings after configuration is bound, e.g. <c>s =&gt; s.InvalidateHybridCacheL1 = true</c>.</param>
    /// <param name="configureClientSettings">Changes the client's settings, if this call registers the connection.</param>
    public static void AddAspireCacheDistributedCache(
        this IHostApplicationBuilder builder,
        string connectionName,
        Action<AspireCacheDistributedCacheSettings>? configureSettings = null,
        Action<AspireCacheClientSettings>? configureClientSettings = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);

        var settings = new AspireCacheDistributedCacheSettings();
        var section = builder.Configuration.GetSection(DefaultConfigSectionName);
        section.Bind(settings);
        section.GetSection(connectionName).Bind(settings);
        configureSettings?.Invoke(settings);
        ArgumentNullException.ThrowIfNull(settings.KeyPrefix, "settings.KeyPrefix");
        if (settings.SlidingExpirationTolerance is < 0 or > 100 or double.NaN)
        {
            throw new InvalidOperationException($"AspireCache distributed cache '{connectionName}': SlidingExpirationTolerance must be within 0..100 (got {settings.SlidingExpirationTolerance}).");
        }

        var connection = AspireCacheClientExtensions.AddConnection(builder, connectionName, plain: true, configureClientSettings, configureHttpClient: null);
        var services = builder.Services;
        if (settings.InvalidateHybridCacheL1)
        {
            services.AddMemoryCache(); // HybridCache's L1 (AddHybridCache adds it too; TryAdd)
            services.AddSingleton<HybridCacheL1Coherence>();
            services.AddSingleton(sp => new HybridCacheL1Invalidator(
                connection.Resolve(sp),
                settings.KeyPrefix,
                sp.GetRequiredService<HybridCacheL1Coherence>(),
                sp.GetRequiredService<IMemoryCache>(),
                sp,
                sp.GetRequiredService<ILogger<HybridCacheL1Invalidator>>()));
            services.AddHostedService(sp => sp.GetRequiredService<HybridCacheL1Invalidator>());
        }

        services.AddSingleton(sp => new AspireCacheDistributedCache(
            connection.Resolve(sp),
            settings,
            settings.InvalidateHybridCacheL1 ? sp.GetRequiredService<HybridCacheL1Coherence>() : null,
            sp.GetService<TimeProvider>()));
        services.AddSingleton<IDistributedCache>(sp => sp.GetRequiredService<AspireCacheDistributedCache>());
    }
}
