"""Pure builders of the children a ModelDeployment owns: Deployment, Service, PDB."""
