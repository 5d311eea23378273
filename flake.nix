{
  description = "Self-hosted Anki sync server in TypeScript, with a hardened NixOS module (homeserver.ankiSync)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      constants = import ./nix/constants.nix;
      # The module is NixOS-only and the native addons are built for Linux.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      # pkgs.anki-sync-server-ts (pkgs.anki-sync-server is the official server; left alone).
      # Behind an npm mirror: `.override { npmRegistry = "https://…/"; }` (docs/nixos.md).
      overlays.default = final: _prev: {
        ${constants.packageAttr} = final.callPackage ./nix/package.nix { };
      };

      packages = forAllSystems (
        _system: pkgs:
        let
          package = pkgs.callPackage ./nix/package.nix { };
        in
        {
          ${constants.packageAttr} = package;
          default = package;
          # For hosts without NixOS: `nix build .#docker-image && docker load < result` (docs/container.md).
          docker-image = pkgs.callPackage ./nix/docker-image.nix { anki-sync-server-ts = package; };
        }
      );

      apps = forAllSystems (
        system: _pkgs: {
          default = {
            type = "app";
            program = lib.getExe self.packages.${system}.default;
            meta.description = "Run the Anki sync server (anki-sync-server serve --help)";
          };
        }
      );

      # homeserver.ankiSync; its package defaults to pkgs.anki-sync-server-ts when
      # the overlay is applied, else to this source built with the host's nixpkgs.
      nixosModules.default = {
        imports = [ ./modules/nixos ];
      };

      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.mkShell {
            packages = [
              pkgs.nodejs
              pkgs.python3
              pkgs.sqlite
              pkgs.age
            ];
          };
        }
      );

      checks = forAllSystems (
        system: pkgs: {
          package = self.packages.${system}.default;
          vm-test = import ./nix/vm-test.nix {
            inherit pkgs;
            module = self.nixosModules.default;
            package = self.packages.${system}.default;
          };
        }
      );

      # Only where nixpkgs provides NixOS (not with a lib-only nixpkgs override).
      nixosConfigurations = lib.optionalAttrs (lib ? nixosSystem) {
        example = lib.nixosSystem {
          system = "x86_64-linux";
          modules = [
            self.nixosModules.default
            ./nix/example-host.nix
          ];
        };
      };
    };
}
