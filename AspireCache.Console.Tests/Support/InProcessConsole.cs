using AspireCache.Console.Extensions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireCache.Console.Tests.Support;

/// <summary>
/// The console in this process, wired as its Program.cs wires it, on a free loopback port, against
/// <c>ConnectionStrings:cache</c> = <c>Endpoint={cluster};Key={its own key}</c>. Development
/// environment: its static web assets (Fluent UI, blazor.web.js) are served from the build's manifest.
/// </summary>
public sealed class InProcessConsole : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessConsole(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<InProcessConsole> StartAsync(Uri cluster, string? key, IDictionary<string, string?>? overrides = null)
    {
        var url = new Uri($"http://127.0.0.1:{TestPorts.Free()}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(ConsoleExtensions).Assembly.GetName().Name,
            EnvironmentName = "Development",
            ContentRootPath = AppContext.BaseDirectory,
        });
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:cache"] = key is null ? $"Endpoint={cluster}" : $"Endpoint={cluster};Key={key}",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (name, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[name] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls(url.ToString());
        builder.Logging.ClearProviders();
        builder.AddBasicServiceDefaults(AspireCacheClientTelemetry.Name);
        builder.AddConsoleServices();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapConsole();
        await app.StartAsync();
        return new InProcessConsole(app, url);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
