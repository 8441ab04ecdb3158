using AspireCache.Console.Extensions;

var builder = WebApplication.CreateBuilder(args);
// The AppHost runs the console from its build output without a launch profile (Production): serve the
// static web assets (Fluent UI, blazor.web.js) from the build's manifest then too. A published app has none.
builder.WebHost.UseStaticWebAssets();
builder.AddBasicServiceDefaults(AspireCache.Client.AspireCacheClientTelemetry.Name);
builder.AddConsoleServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapConsole();
app.Run();
