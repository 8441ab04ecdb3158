using AspireCache.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The AspireCache client integration, shaped like Aspire's own (<c>AddRedisClient</c>):
/// <c>builder.AddAspireCacheClient("cache")</c> registers <see cref="IAspireCacheClient"/>, a
/// health check, tracing and metrics.
/// </summary>
public static class AspireCacheClientExtensions
{
    /// <summary>The configuration section the settings are bound from.</summary>
    public const string DefaultConfigSectionName = "Aspire:AspireCache:Client";

    /// <summary>
    /// Registers <see cref="IAspireCacheClient"/> (singleton) for the connection string
    /// <c>ConnectionStrings:{connectionName}</c> (<c>Endpoint=&lt;router url&gt;[;Key=…]</c>).
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="connectionName">The connection string's name (the AppHost resource's name).</param>
    /// <param name="configureSettings">Changes the settings after configuration is bound.</param>
    /// <param name="configureHttpClient">Configures the client's named <see cref="IHttpClientBuilder"/> (add handlers here, not a resilience handler).</param>
    public static void AddAspireCacheClient(
        this IHostApplicationBuilder builder,
        string connectionName,
        Action<AspireCacheClientSettings>? configureSettings = null,
        Action<IHttpClientBuilder>? configureHttpClient = null)
        => Add(builder, connectionName, serviceKey: null, configureSettings, configureHttpClient);

    /// <summary>
    /// Registers <see cref="IAspireCacheClient"/> as a keyed singleton (key = <paramref name="name"/>);
    /// settings also from <c>Aspire:AspireCache:Client:{name}</c>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The connection string's name, also the service key.</param>
    /// <param name="configureSettings">Changes the settings after configuration is bound.</param>
    /// <param name="configureHttpClient">Configures the client's named <see cref="IHttpClientBuilder"/>.</param>
    public static void AddKeyedAspireCacheClient(
        this IHostApplicationBuilder builder,
        string name,
        Action<AspireCacheClientSettings>? configureSettings = null,
        Action<IHttpClientBuilder>? configureHttpClient = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Add(builder, name, serviceKey: name, configureSettings, configureHttpClient);
    }

    /// <summary>The name of the <see cref="HttpClient"/> registered for a connection (for <see cref="IHttpClientFactory"/>).</summary>
    /// <param name="connectionName">The connection name.</param>
    public static string HttpClientName(string connectionName) => "AspireCache.Client." + connectionName;

    private static void Add(
        IHostApplicationBuilder builder,
        string connectionName,
        string? serviceKey,
        Action<AspireCacheClientSettings>? configureSettings,
        Action<IHttpClientBuilder>? configureHttpClient)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(connectionName);

        var settings = new AspireCacheClientSettings();
        var section = builder.Configuration.GetSection(DefaultConfigSectionName);
        section.Bind(settings);
        section.GetSection(connectionName).Bind(settings);
        settings.ParseConnectionString(builder.Configuration.GetConnectionString(connectionName));
        configureSettings?.Invoke(settings);
        var endpoint = settings.Endpoint ?? throw new InvalidOperationException(
            $"AspireCache client '{connectionName}': no endpoint. Set the connection string 'ConnectionStrings:{connectionName}' (Endpoint=<router url>) or '{DefaultConfigSectionName}:Endpoint'.");

        var httpName = HttpClientName(connectionName);
        var http = builder.Services.AddHttpClient(httpName, client =>
            {
                client.BaseAddress = endpoint;
                // Calls are bounded by their deadline, and watches last as long as they are read.
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            // No additional handlers, whatever ConfigureHttpClientDefaults added (ServiceDefaults'
            // standard resilience handler): its circuit breaker would open on the 503s of an
            // election, and its retries would stack on this client's and the router's. This client
            // retries by its own rules (idempotency keys, deadline, outcome-unknown).
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear());
        configureHttpClient?.Invoke(http);

        var options = new AspireCacheClientOptions
        {
            Deadline = settings.Deadline,
            MaxRetryDelay = settings.MaxRetryDelay,
            FollowLeaderUrl = settings.FollowLeaderUrl,
            Credential = settings.Key,
        };

        IAspireCacheClient Create(IServiceProvider services)
        {
            var factory = services.GetRequiredService<IHttpClientFactory>();
            return new AspireCacheClient(() => factory.CreateClient(httpName), options);
        }

        if (serviceKey is null)
        {
            builder.Services.AddSingleton(Create);
        }
        else
        {
            builder.Services.AddKeyedSingleton(serviceKey, (services, _) => Create(services));
        }

        if (!settings.DisableHealthChecks)
        {
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
                serviceKey is null ? "AspireCache" : "AspireCache_" + connectionName,
                services => new AspireCacheHealthCheck(services.GetRequiredService<IHttpClientFactory>(), httpName),
                failureStatus: default,
                tags: default,
                timeout: settings.HealthCheckTimeout));
        }

        if (!settings.DisableTracing)
        {
            builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource(AspireCacheClientTelemetry.Name));
        }

        if (!settings.DisableMetrics)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(AspireCacheClientTelemetry.Name));
        }
    }
}
